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
#include "net/http_error.h"

namespace coffre::hubapi {
namespace {

using nlohmann::json;
using net::HttpRequest;
using net::HttpResponse;

constexpr size_t kMaxListedDevices = 1000;  // Azure's cap on GET /devices


json DeviceJson(const hub::DeviceIdentity& d, size_t c2d_message_count) {
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
          {"cloudToDeviceMessageCount", c2d_message_count},
          {"authentication",
           {{"symmetricKey", {{"primaryKey", nullable(d.primary_key)}, {"secondaryKey", nullable(d.secondary_key)}}},
            {"x509Thumbprint",
             {{"primaryThumbprint", nullable(d.primary_thumbprint)},
              {"secondaryThumbprint", nullable(d.secondary_thumbprint)}}},
            {"type", hub::AuthTypeName(d.auth_type)}}},
          {"capabilities", {{"iotEdge", false}}}};
}

}  // namespace

// The registry marks which of a module call's identities is missing or exists with the
// Status's detail ("ModuleNotFound").
const net::HttpErrorTable& RegistryErrors() {
  static const net::HttpErrorTable table(
    {{StatusCode::kNotFound, {404, "DeviceNotFound"}},
     {StatusCode::kAlreadyExists, {409, "DeviceAlreadyExists"}},
     {StatusCode::kFailedPrecondition, {412, "PreconditionFailed"}},
     {StatusCode::kInvalidArgument, {400, "ArgumentInvalid"}},
     {StatusCode::kUnauthenticated, {401, "IotHubUnauthorizedAccess"}},
     {StatusCode::kPermissionDenied, {401, "IotHubUnauthorizedAccess"}},
     {StatusCode::kUnavailable, {503, "ServiceUnavailable"}},
     {StatusCode::kResourceExhausted, {503, "ServiceUnavailable"}},
     {StatusCode::kDeadlineExceeded, {504, "GatewayTimeout"}}},
    {500, "ServerError"});
  return table;
}

HttpResponse JsonResponse(const json& body, unsigned status) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

HttpResponse NoContent() {
  HttpResponse r;
  r.status = 204;
  return r;
}

HttpResponse ErrorFor(const Status& s) {
  net::HttpError e = net::HttpErrorFor(s, RegistryErrors());
  return ServiceApi::Error(e.status, e.detail.empty() ? e.code : e.detail, s.message());
}

namespace {

HttpResponse FromStatus(const Status& s, const std::string& device_id) {
  net::HttpError e = net::HttpErrorFor(s, RegistryErrors());
  if (e.status == 500) return ServiceApi::Error(500, e.code, "device " + device_id + ": " + s.message());
  return ServiceApi::Error(e.status, e.detail.empty() ? e.code : e.detail, s.message());
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

json ModuleJson(const hub::ModuleIdentity& m) {
  auto nullable = [](const std::string& s) { return s.empty() ? json(nullptr) : json(s); };
  return {{"moduleId", m.module_id},
          {"managedBy", nullable(m.managed_by)},
          {"deviceId", m.device_id},
          {"generationId", m.generation_id},
          {"etag", m.etag},
          {"connectionState", m.connected ? "Connected" : "Disconnected"},
          {"connectionStateUpdatedTime", FormatIsoTime(m.connection_state_updated_ms)},
          {"lastActivityTime", FormatIsoTime(m.last_activity_ms)},
          {"cloudToDeviceMessageCount", 0},  // C2D messages go to devices, not modules
          {"authentication",
           {{"symmetricKey", {{"primaryKey", nullable(m.primary_key)}, {"secondaryKey", nullable(m.secondary_key)}}},
            {"x509Thumbprint",
             {{"primaryThumbprint", nullable(m.primary_thumbprint)},
              {"secondaryThumbprint", nullable(m.secondary_thumbprint)}}},
            {"type", hub::AuthTypeName(m.auth_type)}}}};
}

// A string field of an object; "" when absent or null; INVALID_ARGUMENT for any other type.
Result<std::string> OptionalText(const json& obj, const char* field, const char* where) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return std::string();
  if (!it->is_string()) return InvalidArgument(std::string(where) + field + " must be a string.");
  return it->get<std::string>();
}

// The body of addModule/updateModule: ids (matching the path, when present), managedBy and
// authentication as azure-iothub sends them. Every field is type-checked before it is read.
Result<hub::ModuleIdentity> ParseModule(const std::string& body, const std::string& device_id,
                                        const std::string& module_id) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("The body is not a JSON object.");
  hub::ModuleIdentity m;
  m.device_id = device_id;
  m.module_id = module_id;
  COFFRE_ASSIGN_OR_RETURN(std::string body_device, OptionalText(j, "deviceId", ""));
  COFFRE_ASSIGN_OR_RETURN(std::string body_module, OptionalText(j, "moduleId", ""));
  if ((!body_device.empty() && body_device != device_id) || (!body_module.empty() && body_module != module_id)) {
    return InvalidArgument("deviceId and moduleId in the body must match the path.");
  }
  COFFRE_ASSIGN_OR_RETURN(m.managed_by, OptionalText(j, "managedBy", ""));
  auto auth_it = j.find("authentication");
  if (auth_it == j.end() || auth_it->is_null()) return m;
  if (!auth_it->is_object()) return InvalidArgument("authentication must be an object.");
  const json& auth = *auth_it;
  COFFRE_ASSIGN_OR_RETURN(std::string type, OptionalText(auth, "type", "authentication."));
  auto parsed = hub::ParseAuthType(type.empty() ? "sas" : type);
  if (!parsed) return InvalidArgument("authentication.type is not sas, selfSigned, certificateAuthority or none.");
  m.auth_type = *parsed;
  auto section = [&](const char* name, const char* first, const char* second, std::string& a,
                     std::string& b) -> Status {
    auto it = auth.find(name);
    if (it == auth.end() || it->is_null()) return Status::Ok();
    if (!it->is_object()) return InvalidArgument(std::string("authentication.") + name + " must be an object.");
    COFFRE_ASSIGN_OR_RETURN(a, OptionalText(*it, first, "authentication key fields: "));
    COFFRE_ASSIGN_OR_RETURN(b, OptionalText(*it, second, "authentication key fields: "));
    return Status::Ok();
  };
  COFFRE_RETURN_IF_ERROR(section("symmetricKey", "primaryKey", "secondaryKey", m.primary_key, m.secondary_key));
  COFFRE_RETURN_IF_ERROR(section("x509Thumbprint", "primaryThumbprint", "secondaryThumbprint",
                                 m.primary_thumbprint, m.secondary_thumbprint));
  return m;
}

}  // namespace

HttpResponse ServiceApi::Error(unsigned status, std::string_view code, std::string_view message) {
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch()).count();
  HttpResponse r =
      JsonResponse({{"Message", "ErrorCode:" + std::string(code) + ";" + std::string(message)},
                    {"ExceptionMessage", "Tracking ID:coffre-TimeStamp:" + FormatIsoTime(now)}},
                   status);
  r.headers.emplace_back("iothub-errorcode", std::string(code));
  return r;
}

bool ServiceApi::IsCoffrePath(std::string_view target, std::string_view name) {
  std::string_view path = target.substr(0, target.find('?'));
  for (std::string_view prefix : {"/$coffre/", "/%24coffre/"}) {
    if (path.size() == prefix.size() + name.size() && path.substr(0, prefix.size()) == prefix &&
        path.substr(prefix.size()) == name) {
      return true;
    }
  }
  return false;
}

HttpResponse ServiceApi::RefusedCaller(const Status& why) {
  StatusCode code = why.code();
  if (code == StatusCode::kUnauthenticated || code == StatusCode::kPermissionDenied) {
    return Error(401, "IotHubUnauthorizedAccess", why.message());
  }
  return Error(503, "ServiceUnavailable", why.message());
}

Result<json> ServiceApi::DeviceView(const hub::DeviceIdentity& d) {
  size_t queued = 0;
  if (c2d_ != nullptr) {
    COFFRE_ASSIGN_OR_RETURN(queued, c2d_->Depth(d.device_id, d.generation_id));
  }
  return DeviceJson(d, queued);
}

HttpResponse ServiceApi::PutDevice(const HttpRequest& request, const std::string& id) {
  Result<hub::DeviceIdentity> device = ParseDevice(request.body, id);
  if (!device.has_value()) return FromStatus(device.error(), id);
  std::string if_match(request.Header("If-Match"));
  Result<hub::DeviceIdentity> saved =
      if_match.empty() ? registry_.Create(*device) : registry_.Update(*device, if_match);
  if (!saved.has_value()) return FromStatus(saved.error(), id);
  Result<json> view = DeviceView(*saved);
  if (!view.has_value()) return FromStatus(view.error(), id);
  return JsonResponse(*view);
}

HttpResponse ServiceApi::PutModule(const HttpRequest& request, const std::string& device_id,
                                   const std::string& module_id) {
  Result<hub::ModuleIdentity> module = ParseModule(request.body, device_id, module_id);
  if (!module.has_value()) return FromStatus(module.error(), device_id);
  std::string if_match(request.Header("If-Match"));
  Result<hub::ModuleIdentity> saved =
      if_match.empty() ? registry_.CreateModule(*module) : registry_.UpdateModule(*module, if_match);
  if (!saved.has_value()) return FromStatus(saved.error(), device_id);
  return JsonResponse(ModuleJson(*saved));
}

// GET /devices/{id}/modules, and PUT/GET/DELETE /devices/{id}/modules/{mid}.
HttpResponse ServiceApi::Modules(const HttpRequest& request, const std::string& device_id,
                                 std::optional<std::string> module_id) {
  const std::string& method = request.method;
  if (!module_id) {
    if (method != "GET") return Error(405, "MethodNotAllowed", "Use GET.");
    Result<std::vector<hub::ModuleIdentity>> modules = registry_.ListModules(device_id);
    if (!modules.has_value()) return FromStatus(modules.error(), device_id);
    json list = json::array();
    for (const auto& m : *modules) list.push_back(ModuleJson(m));
    return JsonResponse(list);
  }
  if (method == "PUT") return PutModule(request, device_id, *module_id);
  if (method == "GET") {
    Result<hub::ModuleIdentity> m = registry_.GetModule(device_id, *module_id);
    if (!m.has_value()) return FromStatus(m.error(), device_id);
    return JsonResponse(ModuleJson(*m));
  }
  if (method == "DELETE") {
    Status s = registry_.DeleteModule(device_id, *module_id, std::string(request.Header("If-Match")));
    if (!s.ok()) return FromStatus(s, device_id);
    return NoContent();
  }
  return Error(405, "MethodNotAllowed", "The method is not allowed on this path.");
}

std::optional<HttpResponse> ServiceApi::Handle(const HttpRequest& request) {
  std::string_view target = request.target;
  std::string_view path = target.substr(0, target.find('?'));
  std::vector<std::string_view> seg = Split(path.substr(path.empty() ? 0 : 1), '/');
  bool devices = !seg.empty() && seg[0] == "devices" && seg.size() <= 2;
  bool modules = seg.size() >= 3 && seg.size() <= 4 && seg[0] == "devices" && seg[2] == "modules" &&
                 !seg[1].empty() && (seg.size() == 3 || !seg[3].empty());
  bool statistics = seg.size() == 2 && seg[0] == "statistics" && seg[1] == "devices";
  if (!devices && !modules && !statistics) return std::nullopt;

  const std::string& method = request.method;
  uint32_t right = method == "GET" ? hub::kRegistryRead : hub::kRegistryWrite;
  // The token's sr bounds it: a path below the host, as Azure scopes tokens (sas_token.h).
  Result<hub::AccessPolicy> caller =
      policies_.Authorize(request.Header("Authorization"), right, hub::ResourceOfPath(path));
  if (!caller.has_value()) return FromStatus(caller.error(), "");
  if (auto refused = CheckApiVersion(request)) return refused;
  if (throttle_ != nullptr) {
    if (auto throttled = throttle_->TakeRegistryOperation()) return throttled;
  }
  if (modules) {
    std::optional<std::string> module_id;
    if (seg.size() == 4) module_id = PercentDecode(seg[3], false);
    return Modules(request, PercentDecode(seg[1], false), module_id);
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
        if (!statistics && list.size() < top) {
          Result<json> view = DeviceView(d);
          if (!view.has_value()) return FromStatus(view.error(), d.device_id);
          list.push_back(std::move(*view));
        }
      }
      continuation = page->continuation;
    } while (!continuation.empty() && (statistics || list.size() < top));
    if (statistics) {
      return JsonResponse({{"totalDeviceCount", total},
                   {"enabledDeviceCount", enabled},
                   {"disabledDeviceCount", total - enabled}});
    }
    return JsonResponse(list);
  }
  std::string id = PercentDecode(seg[1], false);
  if (method == "PUT") return PutDevice(request, id);
  if (method == "GET") {
    Result<hub::DeviceIdentity> d = registry_.Get(id);
    if (!d.has_value()) return FromStatus(d.error(), id);
    Result<json> view = DeviceView(*d);
    if (!view.has_value()) return FromStatus(view.error(), id);
    return JsonResponse(*view);
  }
  if (method == "DELETE") {
    Status s = registry_.Delete(id, std::string(request.Header("If-Match")));
    if (!s.ok()) return FromStatus(s, id);
    return NoContent();
  }
  return Error(405, "MethodNotAllowed", "The method is not allowed on this path.");
}

}  // namespace coffre::hubapi
