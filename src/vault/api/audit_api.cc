#include "vault/api/audit_api.h"

#include <charconv>

#include <nlohmann/json.hpp>

#include "common/time_format.h"
#include "vault/api/http_reply.h"

namespace coffre::vault {
namespace {

using nlohmann::json;

constexpr size_t kDefaultTop = 20;
constexpr size_t kMaxTop = 1000;

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
      return ErrorReply(400, "BadParameter", "top must be between 1 and 1000.");
    }
  }
  Result<std::vector<AuditEntry>> entries = audit.Tail(top);
  if (!entries.has_value()) {
    return ErrorReply(500, "InternalError", "The audit log cannot be read.");
  }
  json value = json::array();
  for (const AuditEntry& e : *entries) value.push_back(View(e));
  return JsonReply(json{{"value", value}, {"count", audit.count()}});
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
  return JsonReply(body);
}

}  // namespace

net::HttpResponse ShowAuditLog(AuditLog* audit, const std::map<std::string, std::string>& query) {
  if (audit == nullptr) return NoAuditLog();
  return Show(*audit, query);
}

net::HttpResponse VerifyAuditLog(AuditLog* audit) {
  if (audit == nullptr) return NoAuditLog();
  return Verify(*audit);
}

net::HttpResponse NoAuditLog() {
  return ErrorReply(501, "NotImplemented", "This vault keeps no audit log.");
}

}  // namespace coffre::vault
