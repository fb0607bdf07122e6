#include "hubapi/erase_api.h"

#include <nlohmann/json.hpp>

#include "common/json_fields.h"
#include "common/time_format.h"
#include "hub/erase_device.h"
#include "hubapi/service_api.h"

namespace coffre::hubapi {

using nlohmann::json;

namespace {

json ErasureJson(const hub::DeviceErasure& e) {
  return {{"deviceId", e.device_id},
          {"keyNumber", e.key_number},
          {"erasedAt", FormatIsoTime(e.erased_ms)},
          {"erasedBy", e.erased_by}};
}

}  // namespace

bool EraseApi::Writes(const net::HttpRequest& request) {
  return request.method == "POST" && ServiceApi::IsCoffrePath(request.target, "erasures");
}

std::optional<net::HttpResponse> EraseApi::Handle(const net::HttpRequest& request) {
  if (!ServiceApi::IsCoffrePath(request.target, "erasures")) return std::nullopt;
  if (request.method != "GET" && request.method != "POST") {
    return ServiceApi::Error(405, "MethodNotAllowed", "Use GET or POST.");
  }
  bool erase = request.method == "POST";
  Result<hub::AccessPolicy> caller = policies_.Authorize(
      request.Header("Authorization"), erase ? hub::kRegistryWrite : hub::kRegistryRead);
  if (!caller.has_value()) return ServiceApi::RefusedCaller(caller.error());
  if (erase) return Erase(request, caller->name);
  Result<std::vector<hub::DeviceErasure>> all = device_keys_.Erasures();
  if (!all.has_value()) return ErrorFor(all.error());
  json list = json::array();
  for (const hub::DeviceErasure& e : *all) list.push_back(ErasureJson(e));
  return JsonResponse(list);
}

net::HttpResponse EraseApi::Erase(const net::HttpRequest& request, const std::string& caller) {
  Result<json> body = ParseJsonObject(request.body);
  if (!body.has_value()) return ServiceApi::Error(400, "ArgumentInvalid", body.error().message());
  Result<JsonFields> fields = JsonFields::Of(*body);
  Result<std::string> id = fields->Required<std::string>("deviceId");
  if (!id.has_value()) return ServiceApi::Error(400, "ArgumentInvalid", id.error().message());
  if (!hub::ValidDeviceId(*id)) {
    return ServiceApi::Error(400, "ArgumentInvalid", "deviceId is not a valid device id.");
  }
  Result<hub::ErasedDevice> erased =
      hub::EraseDevice(registry_, twins_, c2d_, device_keys_, *id, caller);
  if (!erased.has_value()) return ErrorFor(erased.error());
  json out = ErasureJson(erased->erasure);
  out["deviceDeleted"] = erased->identity_deleted;
  out["c2dPurged"] = erased->c2d_purged;
  return JsonResponse(out);
}

}  // namespace coffre::hubapi
