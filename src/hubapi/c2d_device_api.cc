#include "hubapi/c2d_device_api.h"

#include <strings.h>

#include "common/clock.h"
#include "common/encoding.h"
#include "common/strings.h"
#include "common/time_format.h"
#include "hubapi/api_version.h"
#include "hubapi/service_api.h"

namespace coffre::hubapi {

using net::HttpRequest;
using net::HttpResponse;

namespace {

struct C2dRoute {
  std::string device_id;
  std::string lock_token;  // empty: receive
  bool abandon = false;
};

// /devices/{id}/messages/devicebound[/{lockToken}[/abandon]]; "deviceBound" in any case.
std::optional<C2dRoute> MatchDeviceBoundRoute(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  std::vector<std::string_view> seg = Split(path.substr(path.empty() ? 0 : 1), '/');
  if (seg.size() < 4 || seg.size() > 6 || seg[0] != "devices" || seg[1].empty() ||
      seg[2] != "messages" || seg[3].size() != 11 ||
      ::strncasecmp(seg[3].data(), "devicebound", 11) != 0) {
    return std::nullopt;
  }
  C2dRoute r;
  r.device_id = PercentDecode(seg[1], false);
  if (seg.size() >= 5) {
    if (seg[4].empty()) return std::nullopt;
    r.lock_token = PercentDecode(seg[4], false);
  }
  if (seg.size() == 6) {
    if (seg[5] != "abandon") return std::nullopt;
    r.abandon = true;
  }
  return r;
}

}  // namespace

bool C2dDeviceApi::Matches(const HttpRequest& request) {
  return MatchDeviceBoundRoute(request.target).has_value();
}

std::optional<HttpResponse> C2dDeviceApi::Handle(const HttpRequest& request) {
  std::optional<C2dRoute> route = MatchDeviceBoundRoute(request.target);
  if (!route) return std::nullopt;
  Result<hub::AuthenticatedDevice> device =
      auth_.AuthenticateToken(route->device_id, std::nullopt, request.Header("Authorization"));
  if (!device.has_value()) {
    if (device.error().code() == StatusCode::kUnauthenticated) {
      return ServiceApi::Error(401, "IotHubUnauthorizedAccess", device.error().message());
    }
    return ServiceApi::Error(503, "ServiceUnavailable", device.error().message());
  }
  if (auto refused = CheckApiVersion(request)) return refused;
  const std::string& method = request.method;
  Status done;
  if (route->lock_token.empty()) {
    if (method != "GET") return ServiceApi::Error(405, "MethodNotAllowed", "Use GET to receive.");
    return Receive(route->device_id);
  }
  if (route->abandon) {
    if (method != "POST") return ServiceApi::Error(405, "MethodNotAllowed", "Use POST to abandon.");
    done = queues_.Abandon(route->device_id, route->lock_token);
  } else if (method == "DELETE") {
    done = request.Query("reject").has_value() ? queues_.Reject(route->device_id, route->lock_token)
                                               : queues_.Complete(route->device_id, route->lock_token);
  } else {
    return ServiceApi::Error(405, "MethodNotAllowed", "Use DELETE to complete or reject.");
  }
  if (!done.ok()) return ErrorFor(done);
  return NoContent();
}

HttpResponse C2dDeviceApi::Receive(const std::string& device_id) {
  // The device's generation: what was queued for an earlier device of this id is not its own.
  Result<hub::DeviceIdentity> device = registry_.Get(device_id);
  if (!device.has_value()) return ErrorFor(device.error());
  Result<std::optional<hub::QueuedC2d>> next = queues_.Receive(device_id, device->generation_id);
  if (!next.has_value()) return ErrorFor(next.error());
  if (!next->has_value()) return NoContent();
  const hub::QueuedC2d& m = **next;
  const hub::SystemProperties& sys = m.message.properties.system;
  HttpResponse r;
  r.status = 200;
  r.body = m.message.body;
  if (traffic_ != nullptr) traffic_->SentC2d(r.body.size());
  r.content_type = sys.content_type.value_or("application/octet-stream");
  // Properties were checked when the message was sent; a header that could still break the
  // response (a control character) is left out rather than sent.
  auto header = [&r](std::string name, std::string value) {
    for (const std::string* s : {&name, &value}) {
      for (char c : *s) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return;
      }
    }
    r.headers.emplace_back(std::move(name), std::move(value));
  };
  header("ETag", "\"" + m.lock_token + "\"");
  header("iothub-to", "/devices/" + PercentEncode(device_id) + "/messages/devicebound");
  header("iothub-sequencenumber", std::to_string(m.sequence));
  header("iothub-enqueuedtime", FormatIsoTime(ToMillis(m.enqueued_time)));
  header("iothub-deliverycount", std::to_string(m.delivery_count));
  header("iothub-ack", std::string(hub::C2dAckName(m.message.ack)));
  if (m.message.expiry) header("iothub-expiry", FormatIsoTime(ToMillis(*m.message.expiry)));
  if (sys.message_id) header("iothub-messageid", *sys.message_id);
  if (sys.correlation_id) header("iothub-correlationid", *sys.correlation_id);
  if (sys.user_id) header("iothub-userid", *sys.user_id);
  if (sys.content_encoding) header("iothub-contentencoding", *sys.content_encoding);
  for (const auto& [name, value] : m.message.properties.application) {
    header("iothub-app-" + name, value);
  }
  return r;
}

}  // namespace coffre::hubapi
