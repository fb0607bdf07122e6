#include "hubapi/query_api.h"

#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "common/json_fields.h"
#include "common/numbers.h"
#include "hub/query.h"
#include "hub/query_eval.h"
#include "hub/sas_token.h"
#include "hubapi/api_version.h"
#include "hubapi/service_api.h"

namespace coffre::hubapi {

using net::HttpRequest;
using net::HttpResponse;
using nlohmann::json;

namespace {

constexpr size_t kDefaultPageSize = 100;
constexpr size_t kMaxPageSize = 1000;

// Where the next page starts: the registry's continuation and how many results came before
// (for TOP). Opaque to the client: base64url of {"r":..., "n":...}.
struct Position {
  std::string registry;
  uint64_t returned = 0;
};

std::string Encode(const Position& p) {
  std::string text = json{{"r", p.registry}, {"n", p.returned}}.dump();
  return Base64UrlEncode(AsBytes(text));
}

Result<Position> Decode(std::string_view token) {
  auto bad = [] { return InvalidArgument("x-ms-continuation is not a token this hub gave."); };
  Result<Bytes> raw = Base64UrlDecode(token);
  if (!raw.has_value()) return bad();
  json j = json::parse(std::string(reinterpret_cast<const char*>(raw->data()), raw->size()), nullptr, false);
  if (!j.is_object() || !j.contains("r") || !j["r"].is_string() || !j.contains("n") ||
      !j["n"].is_number_unsigned()) {
    return bad();
  }
  return Position{j["r"].get<std::string>(), j["n"].get<uint64_t>()};
}

}  // namespace

std::optional<HttpResponse> QueryApi::Handle(const HttpRequest& request) {
  std::string_view path = std::string_view(request.target).substr(0, request.target.find('?'));
  if (path != "/devices/query") return std::nullopt;
  Result<hub::AccessPolicy> caller = policies_.Authorize(
      request.Header("Authorization"), hub::kServiceConnect, hub::ResourceOfPath(path));
  if (!caller.has_value()) return ErrorFor(caller.error());
  if (auto refused = CheckApiVersion(request)) return refused;
  if (request.method != "POST") return ServiceApi::Error(405, "MethodNotAllowed", "Use POST.");

  Result<json> body = ParseJsonObject(request.body);
  if (!body.has_value()) return ErrorFor(body.error());
  Result<JsonFields> fields = JsonFields::Of(*body);
  Result<std::string> text = fields->Required<std::string>("query");
  if (!text.has_value()) return ErrorFor(text.error());
  Result<hub::Query> query = hub::ParseQuery(*text);
  if (!query.has_value()) return ErrorFor(query.error());

  size_t page_size = kDefaultPageSize;
  if (std::string_view max = request.Header("x-ms-max-item-count"); !max.empty()) {
    auto n = ParseUnsigned(max, kMaxPageSize);
    if (!n || *n == 0) return ServiceApi::Error(400, "ArgumentInvalid", "x-ms-max-item-count must be 1 to 1000.");
    page_size = *n;
  }
  Position at;
  if (std::string_view token = request.Header("x-ms-continuation"); !token.empty()) {
    Result<Position> p = Decode(token);
    if (!p.has_value()) return ErrorFor(p.error());
    at = *p;
  }
  bool aggregate = query->Aggregates() || !query->group_by.empty();
  uint64_t limit = query->top.value_or(UINT64_MAX);

  json rows = json::array();
  hub::QueryGroups groups(*query);
  // Each visited record is a twin of an identity the listing just read; modules come with their
  // device.
  auto visit = [&](const hub::DeviceIdentity& device, const hub::ModuleIdentity* module) -> Status {
    COFFRE_ASSIGN_OR_RETURN(json twin, twins_.View(device, module));
    if (!hub::QueryMatches(*query, twin)) return Status::Ok();
    if (aggregate) {
      groups.Add(twin);
    } else if (at.returned + rows.size() < limit) {
      rows.push_back(hub::QueryProject(*query, twin));
    }
    return Status::Ok();
  };
  // Registry pages no larger than the room left, so a page ends exactly where the next starts
  // (module queries may go over the page size by the modules of the last device).
  std::string continuation = at.registry;
  while (true) {
    size_t room = aggregate ? 100 : std::min<size_t>(100, page_size - rows.size());
    Result<hub::DevicePage> page = registry_.List(room, continuation);
    if (!page.has_value()) return ErrorFor(page.error());
    for (const auto& d : page->devices) {
      if (query->from == hub::Query::Source::kDevices) {
        if (Status s = visit(d, nullptr); !s.ok()) return ErrorFor(s);
        continue;
      }
      Result<std::vector<hub::ModuleIdentity>> modules = registry_.ListModules(d.device_id);
      if (!modules.has_value()) return ErrorFor(modules.error());
      for (const auto& m : *modules) {
        if (Status s = visit(d, &m); !s.ok()) return ErrorFor(s);
      }
    }
    continuation = page->continuation;
    if (continuation.empty()) break;
    if (!aggregate && (rows.size() >= page_size || at.returned + rows.size() >= limit)) break;
  }

  HttpResponse r = JsonResponse(aggregate ? groups.Rows() : rows);
  if (!aggregate && !continuation.empty() && at.returned + rows.size() < limit) {
    r.headers.emplace_back("x-ms-continuation",
                           Encode(Position{continuation, at.returned + rows.size()}));
  }
  return r;
}

}  // namespace coffre::hubapi
