#include "hubapi/device_api.h"

#include <strings.h>

#include <chrono>
#include <future>

#include "common/encoding.h"
#include "common/strings.h"
#include "hubapi/service_api.h"

namespace coffre::hubapi {
namespace {

using net::HttpRequest;
using net::HttpResponse;

constexpr auto kDurableTimeout = std::chrono::seconds(30);
constexpr std::string_view kAppPrefix = "iothub-app-";

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && ::strncasecmp(s.data(), prefix.data(), prefix.size()) == 0;
}

// Azure's system properties arrive as iothub-* headers; application properties as
// iothub-app-{name} (and dt-subject bare).
hub::MessageProperties PropertiesFrom(const net::HttpHeaders& headers) {
  hub::MessageProperties p;
  const std::pair<const char*, std::optional<std::string>*> system[] = {
      {"IoTHub-MessageId", &p.system.message_id},     {"IoTHub-CorrelationId", &p.system.correlation_id},
      {"IoTHub-UserId", &p.system.user_id},           {"IoTHub-To", &p.system.to},
      {"IoTHub-Expiry", &p.system.expiry_time},       {"iothub-contenttype", &p.system.content_type},
      {"iothub-contentencoding", &p.system.content_encoding},
      {"iothub-interface-id", &p.system.interface_id}, {"dt-subject", &p.system.subject}};
  for (const auto& [name, value] : headers) {
    bool matched = false;
    for (auto [header, slot] : system) {
      if (::strcasecmp(name.c_str(), header) == 0) {
        *slot = value;
        matched = true;
      }
    }
    if (!matched && StartsWithNoCase(name, kAppPrefix)) {
      p.application.emplace_back(name.substr(kAppPrefix.size()), value);
    }
  }
  return p;
}

}  // namespace

std::optional<HttpResponse> DeviceApi::Handle(const HttpRequest& request) {
  std::string_view target = request.target;
  std::string_view path = target.substr(0, target.find('?'));
  std::vector<std::string_view> seg = Split(path.substr(path.empty() ? 0 : 1), '/');
  if (seg.size() != 4 || seg[0] != "devices" || seg[2] != "messages" || seg[3] != "events") {
    return std::nullopt;
  }
  if (request.method != "POST") return ServiceApi::Error(405, "MethodNotAllowed", "Use POST.");
  std::string device_id = PercentDecode(seg[1], false);
  Result<hub::AuthenticatedDevice> device =
      auth_.AuthenticateToken(device_id, std::nullopt, request.Header("Authorization"));
  if (!device.has_value()) {
    if (device.error().code() == StatusCode::kUnauthenticated) {
      return ServiceApi::Error(401, "IotHubUnauthorizedAccess", device.error().message());
    }
    return ServiceApi::Error(503, "ServiceUnavailable", device.error().message());
  }
  hub::TelemetryMessage message;
  message.device_id = device->device_id;
  message.enqueued_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
  message.properties = PropertiesFrom(request.headers);
  if (Status size = hub::CheckMessageSize(request.body.size(), message.properties); !size.ok()) {
    return ServiceApi::Error(413, "MessageTooLarge", size.message());
  }
  ByteSpan body = AsBytes(request.body);
  message.body.assign(body.begin(), body.end());
  // Answer only once the message is durable.
  auto stored = std::make_shared<std::promise<Status>>();
  std::future<Status> done = stored->get_future();
  Status submitted = ingest_.Submit(std::move(message), [stored](const Status& s) { stored->set_value(s); });
  if (!submitted.ok()) return ServiceApi::Error(503, "ServiceUnavailable", submitted.message());
  if (done.wait_for(kDurableTimeout) != std::future_status::ready) {
    return ServiceApi::Error(503, "ServiceUnavailable", "the message was not stored in time");
  }
  if (Status s = done.get(); !s.ok()) return ServiceApi::Error(503, "ServiceUnavailable", s.message());
  HttpResponse r;
  r.status = 204;
  return r;
}

}  // namespace coffre::hubapi
