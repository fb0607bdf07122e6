#include "vault/api/audit_api.h"

#include <charconv>

#include <nlohmann/json.hpp>

#include "common/time_format.h"
#include "vault/api/rest_api.h"

namespace coffre::vault {
namespace {

using nlohmann::json;

constexpr size_t kDefaultTop = 20;
constexpr size_t kMaxTop = 1000;

net::HttpResponse Json(const json& body) {
  net::HttpResponse r;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

json View(const AuditEntry& e) {
  if (e.seq == 0) return json{{"seq", nullptr}, {"op", e.op}};
  json view = {{"seq", e.seq},         {"time", FormatIsoTime(e.time_ms)},
               {"principal", e.principal}, {"op", e.op},
               {"key", e.key},         {"version", e.version},
               {"status", e.status},   {"code", e.code},
               {"client", e.client}};
  if (e.count > 0) view["count"] = e.count;
  return view;
}

net::HttpResponse Show(AuditLog& audit, const std::map<std::string, std::string>& query) {
  size_t top = kDefaultTop;
  if (auto it = query.find("top"); it != query.end()) {
    const std::string& text = it->second;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), top);
    if (ec != std::errc() || end != text.data() + text.size() || top < 1 || top > kMaxTop) {
      return RestApi::Error(400, "BadParameter", "top must be between 1 and 1000.");
    }
  }
  Result<std::vector<AuditEntry>> entries = audit.Tail(top);
  if (!entries.has_value()) {
    return RestApi::Error(500, "InternalError", "The audit log cannot be read.");
  }
  json value = json::array();
  for (const AuditEntry& e : *entries) value.push_back(View(e));
  return Json(json{{"value", value}, {"count", audit.count()}});
}

net::HttpResponse Verify(AuditLog& audit) {
  AuditVerdict verdict = audit.Verify();
  json body = {{"ok", verdict.ok}, {"count", verdict.count}, {"firstSeq", verdict.first}};
  if (verdict.first > 1) {
    body["dropped"] = {{"firstSeq", 1},
                       {"lastSeq", verdict.first - 1},
                       {"files", verdict.dropped_files},
                       {"bytes", verdict.dropped_bytes}};
  }
  if (verdict.failure) {
    body["firstBadSeq"] = verdict.failure->seq;
    body["reason"] = verdict.failure->reason;
  }
  return Json(body);
}

}  // namespace

net::HttpResponse HandleAuditRoute(AuditLog* audit, const Principal& caller,
                                   const std::string& method,
                                   const std::vector<std::string>& segments,
                                   const std::map<std::string, std::string>& query) {
  if (!caller.admin) {
    return RestApi::Error(403, "Forbidden", "Only the vault owner reads the audit log.",
                          "AccessDenied");
  }
  if (audit == nullptr) {
    return RestApi::Error(501, "NotImplemented", "This vault keeps no audit log.");
  }
  bool show = segments.size() == 2;
  bool verify = segments.size() == 3 && segments[2] == "verify";
  if (!show && !verify) return RestApi::Error(404, "NotFound", "Unknown path.");
  if (method != (show ? "GET" : "POST")) {
    return RestApi::Error(405, "MethodNotAllowed", "The method is not allowed on this path.");
  }
  return show ? Show(*audit, query) : Verify(*audit);
}

}  // namespace coffre::vault
