#include "hubapi/service_api.h"

#include "hubapi/api_version.h"
#include "hubapi/http_throttle.h"

#include <chrono>
#include <ctime>

#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "common/json_fields.h"
#include "common/time_format.h"
#include "common/strings.h"

namespace coffre::hubapi {
namespace {

using nlohmann::json;
using net::HttpRequest;
using net::HttpResponse;

constexpr size_t kMaxListedDevices = 1000;  // Azure's cap on GET /devices


json DeviceJson(const hub::DeviceIdentity& d) {
  auto nullable = [](const std::string& s) { return s.empty() ? json(nullptr) : json(s); };
  return {{"deviceId", d.device_id},
          {"generationId", d.generation_id},
          {"etag", d.etag},
          {"connectionState", d.connected ? "Connected" : "Disconnected"},
          {"status", d.status == hub::DeviceStatus::kEnabled ? "enabled" : "disabled"},
          {"statusReason", nullable(d.status_reason)},
          {"connectionStateUpdatedTime", FormatIsoTime(d.connection_state_updated_ms)},
          {"statusUpdatedTime", FormatIsoTime(d.status_updated_ms)},
          {"lastActivityTime", FormatIsoTime(d.last_activity_ms)},
          {"cloudToDeviceMessageCount", d.c2d_message_count},
          {"authentication",
           {{"symmetricKey", {{"primaryKey", nullable(d.primary_key)}, {"secondaryKey", nullable(d.secondary_key)}}},
            {"x509Thumbprint",
             {{"primaryThumbprint", nullable(d.primary_thumbprint)},
              {"secondaryThumbprint", nullable(d.secondary_thumbprint)}}},
            {"type", hub::AuthTypeName(d.auth_type)}}},
          {"capabilities", {{"iotEdge", false}}}};
}

HttpResponse Json(const json& body, unsigned status = 200) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

HttpResponse FromStatus(const Status& s, const std::string& device_id) {
  switch (s.code()) {
    case StatusCode::kNotFound: return ServiceApi::Error(404, "DeviceNotFound", s.message());
    case StatusCode::kAlreadyExists: return ServiceApi::Error(409, "DeviceAlreadyExists", s.message());
    case StatusCode::kFailedPrecondition: return ServiceApi::Error(412, "PreconditionFailed", s.message());
    case StatusCode::kInvalidArgument: return ServiceApi::Error(400, "ArgumentInvalid", s.message());
    case StatusCode::kUnauthenticated: return ServiceApi::Error(401, "IotHubUnauthorizedAccess", s.message());
    case StatusCode::kPermissionDenied: return ServiceApi::Error(401, "IotHubUnauthorizedAccess", s.message());
    case StatusCode::kUnavailable:
    case StatusCode::kResourceExhausted: return ServiceApi::Error(503, "ServiceUnavailable", s.message());
    default:
      return ServiceApi::Error(500, "ServerError", "device " + device_id + ": " + s.message());
  }
}

// Reads the fields of a device identity body that a caller may set. Every field is typed:
// a wrong type, or null where Azure has no nullable field, is INVALID_ARGUMENT (400).
Result<hub::DeviceIdentity> ParseDevice(const std::string& body, const std::string& path_id) {
  COFFRE_ASSIGN_OR_RETURN(json j, ParseJsonObject(body));
  COFFRE_ASSIGN_OR_RETURN(JsonFields fields, JsonFields::Of(j));
  hub::DeviceIdentity d;
  d.device_id = path_id;
  COFFRE_ASSIGN_OR_RETURN(std::optional<std::string> body_id, fields.Optional<std::string>("deviceId"));
  if (body_id && *body_id != path_id) return InvalidArgument("deviceId in the body does not match the path.");
  COFFRE_ASSIGN_OR_RETURN(std::string status, fields.Or<std::string>("status", "enabled"));
  if (status != "enabled" && status != "disabled") return InvalidArgument("status must be enabled or disabled.");
  d.status = status == "enabled" ? hub::DeviceStatus::kEnabled : hub::DeviceStatus::kDisabled;
  COFFRE_ASSIGN_OR_RETURN(auto reason, fields.Nullable<std::string>("statusReason"));
  d.status_reason = reason.value_or("");
  COFFRE_ASSIGN_OR_RETURN(std::optional<JsonFields> auth, fields.Nullable<JsonFields>("authentication"));
  if (!auth) return d;
  COFFRE_ASSIGN_OR_RETURN(std::string type_name, auth->Or<std::string>("type", "sas"));
  auto type = hub::ParseAuthType(type_name);
  if (!type) return InvalidArgument("authentication.type is not sas, selfSigned, certificateAuthority or none.");
  d.auth_type = *type;
  // Azure's nullable fields: the SDK sends null for keys and thumbprints it leaves to the hub.
  auto text = [&](const char* section, const char* field, std::string& out) -> Status {
    COFFRE_ASSIGN_OR_RETURN(std::optional<JsonFields> s, auth->Nullable<JsonFields>(section));
    if (!s) return Status::Ok();
    COFFRE_ASSIGN_OR_RETURN(std::optional<std::string> v, s->Nullable<std::string>(field));
    out = v.value_or("");
    return Status::Ok();
  };
  COFFRE_RETURN_IF_ERROR(text("symmetricKey", "primaryKey", d.primary_key));
  COFFRE_RETURN_IF_ERROR(text("symmetricKey", "secondaryKey", d.secondary_key));
  COFFRE_RETURN_IF_ERROR(text("x509Thumbprint", "primaryThumbprint", d.primary_thumbprint));
  COFFRE_RETURN_IF_ERROR(text("x509Thumbprint", "secondaryThumbprint", d.secondary_thumbprint));
  return d;
}

}  // namespace

HttpResponse ServiceApi::Error(unsigned status, std::string_view code, std::string_view message) {
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch()).count();
  HttpResponse r = Json({{"Message", "ErrorCode:" + std::string(code) + ";" + std::string(message)},
                         {"ExceptionMessage", "Tracking ID:coffre-TimeStamp:" + FormatIsoTime(now)}},
                        status);
  r.headers.emplace_back("iothub-errorcode", std::string(code));
  return r;
}

HttpResponse ServiceApi::PutDevice(const HttpRequest& request, const std::string& id) {
  Result<hub::DeviceIdentity> device = ParseDevice(request.body, id);
  if (!device.has_value()) return FromStatus(device.error(), id);
  std::string if_match(request.Header("If-Match"));
  Result<hub::DeviceIdentity> saved =
      if_match.empty() ? registry_.Create(*device) : registry_.Update(*device, if_match);
  if (!saved.has_value()) return FromStatus(saved.error(), id);
  return Json(DeviceJson(*saved));
}

std::optional<HttpResponse> ServiceApi::Handle(const HttpRequest& request) {
  std::string_view target = request.target;
  std::string_view path = target.substr(0, target.find('?'));
  std::vector<std::string_view> seg = Split(path.substr(path.empty() ? 0 : 1), '/');
  bool devices = !seg.empty() && seg[0] == "devices" && seg.size() <= 2;
  bool statistics = seg.size() == 2 && seg[0] == "statistics" && seg[1] == "devices";
  if (!devices && !statistics) return std::nullopt;

  const std::string& method = request.method;
  uint32_t right = method == "GET" ? hub::kRegistryRead : hub::kRegistryWrite;
  Result<hub::AccessPolicy> caller = policies_.Authorize(request.Header("Authorization"), right);
  if (!caller.has_value()) return FromStatus(caller.error(), "");
  if (auto refused = CheckApiVersion(request)) return refused;
  if (throttle_ != nullptr) {
    if (auto throttled = throttle_->TakeRegistryOperation()) return throttled;
  }

  if (statistics || (seg.size() == 1 || seg[1].empty())) {
    if (method != "GET") return Error(405, "MethodNotAllowed", "Use GET.");
    // GET /devices?top=N: the first N devices (1-1000, default 1000), as Azure.
    size_t top = kMaxListedDevices;
    if (auto top_text = request.Query("top")) {
      char* end = nullptr;
      long long v = std::strtoll(top_text->c_str(), &end, 10);
      if (top_text->empty() || *end != '\0' || v < 1 || v > static_cast<long long>(kMaxListedDevices)) {
        return Error(400, "ArgumentInvalid", "top must be 1 to 1000.");
      }
      top = static_cast<size_t>(v);
    }
    size_t total = 0, enabled = 0;
    json list = json::array();
    std::string continuation;
    do {
      Result<hub::DevicePage> page = registry_.List(100, continuation);
      if (!page.has_value()) return FromStatus(page.error(), "");
      for (const auto& d : page->devices) {
        ++total;
        if (d.status == hub::DeviceStatus::kEnabled) ++enabled;
        if (!statistics && list.size() < top) list.push_back(DeviceJson(d));
      }
      continuation = page->continuation;
    } while (!continuation.empty() && (statistics || list.size() < top));
    if (statistics) {
      return Json({{"totalDeviceCount", total},
                   {"enabledDeviceCount", enabled},
                   {"disabledDeviceCount", total - enabled}});
    }
    return Json(list);
  }
  std::string id = PercentDecode(seg[1], false);
  if (method == "PUT") return PutDevice(request, id);
  if (method == "GET") {
    Result<hub::DeviceIdentity> d = registry_.Get(id);
    if (!d.has_value()) return FromStatus(d.error(), id);
    return Json(DeviceJson(*d));
  }
  if (method == "DELETE") {
    Status s = registry_.Delete(id, std::string(request.Header("If-Match")));
    if (!s.ok()) return FromStatus(s, id);
    HttpResponse r;
    r.status = 204;
    return r;
  }
  return Error(405, "MethodNotAllowed", "The method is not allowed on this path.");
}

}  // namespace coffre::hubapi
