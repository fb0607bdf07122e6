#include "hubapi/device_api.h"

#include <strings.h>

#include <atomic>
#include <chrono>

#include "common/encoding.h"
#include "common/json_fields.h"
#include "common/strings.h"
#include <nlohmann/json.hpp>

#include "hubapi/api_version.h"
#include "hubapi/http_throttle.h"
#include "hubapi/message_headers.h"
#include "hubapi/service_api.h"

namespace coffre::hubapi {
namespace {

using net::HttpRequest;
using net::HttpResponse;

constexpr std::string_view kBatchContentType = "application/vnd.microsoft.iothub.json";
constexpr size_t kMaxBatchBytes = 256 * 1024;  // Azure's limit for a whole batch

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && ::strncasecmp(s.data(), prefix.data(), prefix.size()) == 0;
}

// A batch body (iothub-protocol.md 4.2): a JSON array of {"body": base64, "properties":
// {"iothub-app-{name}": value, ...}}, each entry one message.
Result<std::vector<hub::TelemetryMessage>> ParseBatch(const std::string& body) {
  nlohmann::json entries = nlohmann::json::parse(body, nullptr, false);
  if (!entries.is_array() || entries.empty()) {
    return InvalidArgument("A batch is a non-empty JSON array of {\"body\", \"properties\"} objects.");
  }
  std::vector<hub::TelemetryMessage> out;
  for (const auto& entry : entries) {
    Result<JsonFields> fields = JsonFields::Of(entry);
    Result<std::string> text =
        fields.has_value() ? fields->Required<std::string>("body") : Result<std::string>(fields.error());
    if (!text.has_value()) return InvalidArgument("Every batch entry needs a base64 \"body\".");
    Result<Bytes> decoded = Base64Decode(*text);
    if (!decoded.has_value()) return InvalidArgument("A batch entry's body is not base64.");
    net::HttpHeaders properties;
    Result<std::optional<JsonFields>> bag = fields->Optional<JsonFields>("properties");
    if (!bag.has_value()) return InvalidArgument("A batch entry's properties must be an object.");
    if (*bag) {
      for (const auto& item : (*bag)->object().items()) {
        Result<std::string> v = (*bag)->Required<std::string>(item.key());
        if (!v.has_value()) return InvalidArgument("Property values must be strings.");
        properties.emplace_back(item.key(), std::move(*v));
      }
    }
    hub::TelemetryMessage m;
    m.properties = PropertiesFromHeaders(properties);
    COFFRE_RETURN_IF_ERROR(hub::CheckMessageSize(decoded->size(), m.properties));
    m.body = std::move(*decoded);
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace

bool DeviceApi::Handle(const HttpRequest& request, const net::HttpResponder& respond) {
  std::string_view target = request.target;
  std::string_view path = target.substr(0, target.find('?'));
  std::vector<std::string_view> seg = Split(path.substr(path.empty() ? 0 : 1), '/');
  // /devices/{id}/messages/events, or /devices/{id}/modules/{mid}/messages/events for a module.
  bool module = seg.size() == 6 && seg[2] == "modules";
  if ((seg.size() != 4 && !module) || seg[0] != "devices" || seg[seg.size() - 2] != "messages" ||
      seg.back() != "events") {
    return false;
  }
  if (std::optional<HttpResponse> now = Submit(request, respond)) respond.Send(std::move(*now));
  return true;
}

std::optional<HttpResponse> DeviceApi::Submit(const HttpRequest& request,
                                              const net::HttpResponder& respond) {
  std::string_view target = request.target;
  std::string_view path = target.substr(0, target.find('?'));
  std::vector<std::string_view> seg = Split(path.substr(path.empty() ? 0 : 1), '/');
  bool module = seg.size() == 6;  // Handle checked the shape
  if (request.method != "POST") return ServiceApi::Error(405, "MethodNotAllowed", "Use POST.");
  std::string device_id = PercentDecode(seg[1], false);
  std::optional<std::string> module_id;
  if (module) module_id = PercentDecode(seg[3], false);
  std::optional<std::string_view> module_view;
  if (module_id) module_view = *module_id;
  Result<hub::AuthenticatedDevice> device =
      auth_.AuthenticateToken(device_id, module_view, request.Header("Authorization"));
  if (!device.has_value()) {
    if (device.error().code() == StatusCode::kUnauthenticated) {
      return ServiceApi::Error(401, "IotHubUnauthorizedAccess", device.error().message());
    }
    return ServiceApi::Error(503, "ServiceUnavailable", device.error().message());
  }
  if (auto refused = CheckApiVersion(request)) return refused;
  std::vector<hub::TelemetryMessage> messages;
  std::string_view content_type = request.Header("Content-Type");
  if (StartsWithNoCase(content_type, kBatchContentType)) {
    if (request.body.size() > kMaxBatchBytes) {
      return ServiceApi::Error(413, "MessageTooLarge", "A batch may hold at most 256 KB.");
    }
    Result<std::vector<hub::TelemetryMessage>> batch = ParseBatch(request.body);
    if (!batch.has_value()) {
      unsigned status = batch.error().code() == StatusCode::kInvalidArgument ? 400 : 413;
      return ServiceApi::Error(status, status == 400 ? "ArgumentInvalid" : "MessageTooLarge",
                               batch.error().message());
    }
    messages = std::move(*batch);
  } else {
    hub::TelemetryMessage message;
    message.properties = PropertiesFromHeaders(request.headers);
    if (Status size = hub::CheckMessageSize(request.body.size(), message.properties); !size.ok()) {
      return ServiceApi::Error(413, "MessageTooLarge", size.message());
    }
    ByteSpan body = AsBytes(request.body);
    message.body.assign(body.begin(), body.end());
    messages.push_back(std::move(message));
  }
  if (traffic_ != nullptr) {
    for (const hub::TelemetryMessage& m : messages) traffic_->Received(m.body.size());
  }
  if (quotas_ != nullptr) {
    std::chrono::milliseconds wait =
        quotas_->TakeD2c(std::chrono::steady_clock::now(), static_cast<double>(messages.size()));
    if (wait.count() > 0) {
      return HttpThrottle::Throttled(wait, "The hub's device-to-cloud quota is used up; retry later.");
    }
  }
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  // Answer only once every message is durable: the last completion sends the 204, the first
  // failure a 503 (the responder keeps only the first answer). They run on the ingest's writer
  // threads, and the responder hands the write to the connection's strand.
  auto left = std::make_shared<std::atomic<size_t>>(messages.size());
  for (hub::TelemetryMessage& message : messages) {
    message.device_id = device->device_id;
    message.module_id = device->module_id;
    message.auth_type = device->auth_type;
    message.auth_generation_id = device->generation_id;
    message.enqueued_ms = now;
    Status submitted = ingest_.Submit(std::move(message), [respond, left](const Status& s) {
      if (!s.ok()) return respond.Send(ServiceApi::Error(503, "ServiceUnavailable", s.message()));
      if (left->fetch_sub(1) == 1) respond.Send(NoContent());
    });
    if (!submitted.ok()) {
      // Those already queued are stored; the device is told to send again, as before.
      return ServiceApi::Error(503, "ServiceUnavailable", submitted.message());
    }
  }
  return std::nullopt;
}

}  // namespace coffre::hubapi
