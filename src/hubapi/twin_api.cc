#include "hubapi/twin_api.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "common/json_fields.h"
#include "common/numbers.h"
#include "common/strings.h"
#include "hub/sas_token.h"
#include "hubapi/api_version.h"
#include "hubapi/service_api.h"

namespace coffre::hubapi {

using net::HttpRequest;
using net::HttpResponse;
using nlohmann::json;

namespace {

struct TwinRoute {
  hub::TwinId id;
  bool methods = false;
};

// /twins/{id}, /twins/{id}/methods, /twins/{id}/modules/{mid}, /twins/{id}/modules/{mid}/methods.
std::optional<TwinRoute> MatchRoute(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  if (!path.starts_with("/twins/")) return std::nullopt;
  std::vector<std::string_view> seg = Split(path.substr(1), '/');
  if (seg.size() < 2 || seg[1].empty()) return std::nullopt;
  TwinRoute r;
  r.id.device_id = PercentDecode(seg[1], false);
  size_t next = 2;
  if (seg.size() >= 4 && seg[2] == "modules" && !seg[3].empty()) {
    r.id.module_id = PercentDecode(seg[3], false);
    next = 4;
  }
  if (seg.size() == next) return r;
  if (seg.size() == next + 1 && seg[next] == "methods") {
    r.methods = true;
    return r;
  }
  return std::nullopt;
}

// responseTimeoutInSeconds / connectTimeoutInSeconds, Azure's int32 fields: absent or null is
// the default; a number with no fraction, or a string of digits (Azure's JSON reader converts
// "10" to 10, and azure-iothub passes on whatever the caller gave), within Azure's bounds, else
// Azure's own message.
Result<std::chrono::seconds> Timeout(const json& body, std::string_view name, int fallback,
                                     int min) {
  Status out_of_range = InvalidArgument(std::string(name) + " must be within [" +
                                        std::to_string(min) + "; " +
                                        std::to_string(hub::kMaxMethodTimeoutSeconds) + "].");
  auto it = body.find(std::string(name));
  if (it == body.end() || it->is_null()) return std::chrono::seconds(fallback);
  std::optional<double> seconds;
  if (it->is_number()) {
    seconds = it->get<double>();
  } else if (it->is_string()) {
    if (auto n = ParseUnsigned(it->get_ref<const std::string&>(), hub::kMaxMethodTimeoutSeconds)) {
      seconds = static_cast<double>(*n);
    }
  }
  if (!seconds || *seconds != std::floor(*seconds) || *seconds < min ||
      *seconds > hub::kMaxMethodTimeoutSeconds) {
    return out_of_range;
  }
  return std::chrono::seconds(static_cast<int64_t>(*seconds));
}

Result<hub::MethodRequest> ParseInvocation(const std::string& text, const hub::TwinId& id) {
  COFFRE_ASSIGN_OR_RETURN(json body, ParseJsonObject(text));
  COFFRE_ASSIGN_OR_RETURN(JsonFields fields, JsonFields::Of(body));
  hub::MethodRequest r;
  r.target = id;
  COFFRE_ASSIGN_OR_RETURN(r.name, fields.Required<std::string>("methodName"));
  if (!hub::ValidMethodName(r.name)) {
    return InvalidArgument("methodName must be 1 to 128 printable ASCII characters without "
                           "'/', '?', '#', '+', '&', '=', '%' or spaces.");
  }
  COFFRE_ASSIGN_OR_RETURN(r.response_timeout,
                          Timeout(body, "responseTimeoutInSeconds", 30, hub::kMinMethodTimeoutSeconds));
  COFFRE_ASSIGN_OR_RETURN(r.connect_timeout, Timeout(body, "connectTimeoutInSeconds", 0, 0));
  auto payload = body.find("payload");
  r.payload = payload == body.end() ? "null" : payload->dump(-1, ' ', false, json::error_handler_t::replace);
  if (r.payload.size() > hub::kMaxMethodPayloadBytes) {
    // Azure's answer: 400 ArgumentInvalid, naming the limit.
    return InvalidArgument("The 'payload' size should be at most " +
                           std::to_string(hub::kMaxMethodPayloadBytes) + " bytes (128 KiB).");
  }
  return r;
}

}  // namespace

bool TwinApi::Writes(const HttpRequest& request) {
  auto route = MatchRoute(request.target);
  return route && !route->methods && (request.method == "PATCH" || request.method == "PUT");
}

bool TwinApi::Handle(const HttpRequest& request, const net::HttpResponder& respond) {
  auto route = MatchRoute(request.target);
  if (!route) return false;
  std::string_view path = std::string_view(request.target).substr(0, request.target.find('?'));
  Result<hub::AccessPolicy> caller = policies_.Authorize(
      request.Header("Authorization"), hub::kServiceConnect, hub::ResourceOfPath(path));
  if (!caller.has_value()) {
    respond.Send(ErrorFor(caller.error()));
    return true;
  }
  if (auto refused = CheckApiVersion(request)) {
    respond.Send(std::move(*refused));
    return true;
  }
  if (route->methods) {
    Invoke(request, route->id, respond);
  } else {
    respond.Send(Twin(request, route->id));
  }
  return true;
}

HttpResponse TwinApi::Twin(const HttpRequest& request, const hub::TwinId& id) {
  Result<json> twin = Status(StatusCode::kInternal, "unreachable");
  if (request.method == "GET") {
    twin = twins_.Get(id);
  } else if (request.method == "PATCH" || request.method == "PUT") {
    Result<json> body = ParseJsonObject(request.body);
    if (!body.has_value()) return ErrorFor(body.error());
    std::string if_match(request.Header("If-Match"));
    twin = request.method == "PATCH" ? twins_.Patch(id, *body, if_match)
                                     : twins_.Replace(id, *body, if_match);
  } else {
    return ServiceApi::Error(405, "MethodNotAllowed", "Use GET, PATCH or PUT on a twin.");
  }
  if (!twin.has_value()) return ErrorFor(twin.error());
  return JsonResponse(*twin);
}

void TwinApi::Invoke(const HttpRequest& request, const hub::TwinId& id,
                     const net::HttpResponder& respond) {
  if (request.method != "POST") {
    return respond.Send(ServiceApi::Error(405, "MethodNotAllowed", "Use POST to invoke a method."));
  }
  Result<hub::MethodRequest> call = ParseInvocation(request.body, id);
  if (!call.has_value()) return respond.Send(ErrorFor(call.error()));
  // The target must exist; whether it is online is the call's to find out.
  if (Status exists = twins_.Exists(id); !exists.ok()) return respond.Send(ErrorFor(exists));
  methods_.Invoke(std::move(*call), [respond](Result<hub::MethodResponse> r) {
    if (!r.has_value()) return respond.Send(ErrorFor(r.error()));
    json payload = json::parse(r->payload, nullptr, false);
    if (payload.is_discarded()) payload = r->payload;  // not JSON: passed on as a string
    respond.Send(JsonResponse({{"status", r->status}, {"payload", std::move(payload)}}));
  });
}

}  // namespace coffre::hubapi
