#include "hubservice/hub_device_features.h"

#include <map>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "hubapi/service_api.h"
#include "net/http_error.h"

namespace coffre::hubservice {

using nlohmann::json;

namespace {

// Azure IoT Hub's numeric error code for an error name (as its twin topics answer, e.g.
// {"errorCode":400004} for a malformed reported patch); <status>001 for a name it lacks.
int AzureErrorCode(std::string_view name, int status) {
  static const std::map<std::string_view, int> codes = {
      {"ArgumentInvalid", 400004},     {"IotHubUnauthorizedAccess", 401002},
      {"DeviceNotFound", 404001},      {"ModuleNotFound", 404010},
      {"PreconditionFailed", 412001},  {"MessageTooLarge", 413001},
      {"ThrottlingException", 429001}, {"ServerError", 500001},
      {"ServiceUnavailable", 503001},  {"GatewayTimeout", 504101}};
  auto it = codes.find(name);
  return it != codes.end() ? it->second : status * 1000 + 1;
}

// A twin failure as the SDK reads it: {"errorCode": <Azure's code>, "message": ...}; the status
// goes in the topic.
std::pair<int, std::string> TwinError(const Status& s) {
  net::HttpError e = net::HttpErrorFor(s, hubapi::RegistryErrors());
  int status = static_cast<int>(e.status);
  json body = {{"errorCode", AzureErrorCode(e.detail.empty() ? e.code : e.detail, status)},
               {"message", s.message()}};
  return {status, body.dump(-1, ' ', false, json::error_handler_t::replace)};
}

}  // namespace

void HubDeviceFeatures::TwinRequest(const hub::TwinId& id, hub::TwinRequestKind kind,
                                    std::string body, TwinReply reply) {
  bool queued = work_.Post([this, id, kind, body = std::move(body), reply] {
    auto fail = [&reply](const Status& s) {
      auto [status, error] = TwinError(s);
      reply(status, std::move(error), std::nullopt);
    };
    if (kind == hub::TwinRequestKind::kGet) {
      Result<json> twin = twins_.DeviceGet(id);
      if (!twin.has_value()) return fail(twin.error());
      return reply(200, twin->dump(-1, ' ', false, json::error_handler_t::replace), std::nullopt);
    }
    json patch = json::parse(body, nullptr, false);
    if (patch.is_discarded()) return fail(InvalidArgument("The reported properties are not JSON."));
    Result<int64_t> version = twins_.Report(id, patch);
    if (!version.has_value()) return fail(version.error());
    reply(204, "", *version);
  });
  if (!queued) {
    auto [status, error] = TwinError(ResourceExhausted("Too many twin requests are waiting."));
    reply(429, std::move(error), std::nullopt);
  }
}

void HubDeviceFeatures::MethodResponse(const hub::TwinId& id, const std::string& rid, int status,
                                       std::string payload) {
  methods_.Respond(id, rid, hub::MethodResponse{status, std::move(payload)});
}

void HubDeviceFeatures::MethodsSubscribed(const hub::TwinId& id) { methods_.Subscribed(id); }

void HubDeviceFeatures::NextC2d(const std::string& device_id, C2dNext done) {
  bool queued = work_.Post([this, device_id, done] {
    Result<hub::DeviceIdentity> device = registry_.Get(device_id);
    // Disabled since its session asked: nothing more for it (the session is being closed).
    if (!device.has_value() || device->status != hub::DeviceStatus::kEnabled) {
      return done(std::nullopt);
    }
    Result<std::optional<hub::QueuedC2d>> next = c2d_.Receive(device_id, device->generation_id);
    if (!next.has_value()) {
      LogLine("c2d", "device " + device_id + ": " + next.error().ToString());
      return done(std::nullopt);
    }
    done(std::move(*next));
  });
  if (!queued) done(std::nullopt);  // the device's next reconnect or message tries again
}

void HubDeviceFeatures::CompleteC2d(const std::string& device_id, const std::string& lock_token) {
  work_.Post([this, device_id, lock_token] {
    Status s = c2d_.Complete(device_id, lock_token);
    if (!s.ok()) LogLine("c2d", "device " + device_id + ": completing: " + s.ToString());
  });
}

void HubDeviceFeatures::AbandonC2d(const std::string& device_id, const std::string& lock_token) {
  work_.Post([this, device_id, lock_token] { (void)c2d_.Abandon(device_id, lock_token); });
}

void HubDeviceFeatures::RejectC2d(const std::string& device_id, const std::string& lock_token) {
  work_.Post([this, device_id, lock_token] {
    Status s = c2d_.Reject(device_id, lock_token);
    if (!s.ok()) LogLine("c2d", "device " + device_id + ": rejecting: " + s.ToString());
  });
}

}  // namespace coffre::hubservice
