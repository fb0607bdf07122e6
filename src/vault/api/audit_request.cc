#include "vault/api/audit_request.h"

#include <strings.h>

#include <initializer_list>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/strings.h"

namespace coffre::vault {
namespace {

using Methods = std::initializer_list<std::pair<std::string_view, std::string_view>>;

// The operation `method` names among `methods`; "" if none.
std::string_view ByMethod(std::string_view method, Methods methods) {
  for (auto [m, op] : methods) {
    if (m == method) return op;
  }
  return {};
}

// The key operations in a path (/keys/{n}/{v}/wrapkey), in their canonical spelling.
std::string_view CryptoOp(std::string_view segment) {
  for (std::string_view op : {"wrapKey", "unwrapKey", "encrypt", "decrypt", "sign", "verify"}) {
    if (op.size() == segment.size() && ::strncasecmp(op.data(), segment.data(), op.size()) == 0) {
      return op;
    }
  }
  return {};
}

struct Named {
  Named(std::string_view o = {}, std::string_view k = {}, std::string_view v = {})
      : op(o), key(k), version(v) {}
  std::string_view op;
  std::string_view key;
  std::string_view version;
};

// Mirrors RestApi's routes; a path it does not know keeps its method and path as the op.
Named Classify(std::string_view method, const std::vector<std::string_view>& seg) {
  size_t n = seg.size();
  std::string_view s1 = n > 1 ? seg[1] : "", s2 = n > 2 ? seg[2] : "";
  if (seg[0] == "keys") {
    if (n == 1) return {ByMethod(method, {{"GET", "listKeys"}})};
    if (n == 2 && s1 == "restore") return {ByMethod(method, {{"POST", "restoreKey"}})};
    if (n == 2 || (n == 3 && s2.empty())) {
      return {ByMethod(method, {{"GET", "getKey"},
                                {"PATCH", "updateKey"},
                                {"PUT", "importKey"},
                                {"DELETE", "deleteKey"}}),
              s1};
    }
    if (n == 3) {
      if (s2 == "rotationpolicy") {
        return {ByMethod(method, {{"GET", "getRotationPolicy"}, {"PUT", "setRotationPolicy"}}), s1};
      }
      for (auto [tail, op] : {std::pair<std::string_view, std::string_view>{"create", "createKey"},
                              {"rotate", "rotateKey"},
                              {"backup", "backupKey"}}) {
        if (s2 == tail) return {ByMethod(method, {{"POST", op}}), s1};
      }
      if (s2 == "versions") return {ByMethod(method, {{"GET", "listKeyVersions"}}), s1};
      if (method == "POST") return {CryptoOp(s2), s1};
      return {ByMethod(method, {{"GET", "getKey"}, {"PATCH", "updateKey"}}), s1, s2};
    }
    if (n == 4) return {ByMethod(method, {{"POST", CryptoOp(seg[3])}}), s1, s2};
    return {};
  }
  if (seg[0] == "deletedkeys") {
    if (n == 1) return {ByMethod(method, {{"GET", "listDeletedKeys"}})};
    if (n == 2) {
      return {ByMethod(method, {{"GET", "getDeletedKey"}, {"DELETE", "purgeDeletedKey"}}), s1};
    }
    if (n == 3 && s2 == "recover") return {ByMethod(method, {{"POST", "recoverDeletedKey"}}), s1};
    return {};
  }
  if (seg[0] == "coffre" && s1 == "principals") {
    if (n == 2) return {ByMethod(method, {{"GET", "listPrincipals"}})};
    if (n == 3) {
      return {ByMethod(method, {{"GET", "getPrincipal"},
                                {"PUT", "setPrincipal"},
                                {"DELETE", "deletePrincipal"}}),
              s2};
    }
  }
  if (seg[0] == "coffre" && s1 == "seal-status" && n == 2) {
    return {ByMethod(method, {{"GET", "getSealStatus"}})};
  }
  if (seg[0] == "coffre" && s1 == "eventsubscriptions") {
    if (n == 2) return {ByMethod(method, {{"GET", "listEventSubscriptions"}, {"POST", "addEventSubscription"}})};
    if (n == 3) {
      return {ByMethod(method, {{"GET", "getEventSubscription"}, {"DELETE", "removeEventSubscription"}})};
    }
  }
  if (seg[0] == "coffre" && s1 == "clock" && n == 2) {
    return {ByMethod(method, {{"GET", "getTestClock"}, {"POST", "advanceTestClock"}})};
  }
  if (seg[0] == "coffre" && s1 == "audit") {
    if (n == 2) return {ByMethod(method, {{"GET", "getAuditLog"}})};
    if (n == 3 && s2 == "verify") return {ByMethod(method, {{"POST", "verifyAuditLog"}})};
  }
  return {};
}

// The version in the reply's kid (".../keys/{key}/{version}"), for requests that named none.
std::string_view VersionFromKid(std::string_view body, std::string_view key) {
  size_t at = body.find("\"kid\":\"");
  if (at == std::string_view::npos) return {};
  std::string_view kid = body.substr(at + 7);
  kid = kid.substr(0, kid.find('"'));
  std::string marker = "/keys/" + std::string(key) + "/";
  size_t k = kid.find(marker);
  return k == std::string_view::npos ? std::string_view() : kid.substr(k + marker.size());
}

// The most specific code of an Azure-shaped error body: innererror's, else the error's.
std::string ErrorCode(const std::string& body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j["error"].is_object()) return {};
  nlohmann::json& error = j["error"];
  if (error["innererror"].is_object() && error["innererror"]["code"].is_string()) {
    return error["innererror"]["code"].get<std::string>();
  }
  return error["code"].is_string() ? error["code"].get<std::string>() : std::string();
}

}  // namespace

AuditEntry DescribeRequest(const net::HttpRequest& request, std::string_view principal,
                           const net::HttpResponse& response) {
  std::string_view path = request.target;
  path = path.substr(0, path.find('?'));
  std::vector<std::string_view> segments =
      Split(path.empty() || path[0] != '/' ? path : path.substr(1), '/');
  Named named = Classify(request.method, segments);

  AuditEntry entry;
  entry.principal = principal;
  if (!named.op.empty()) {
    entry.op = named.op;
  } else if (request.method.empty()) {
    entry.op = "(malformed request)";  // refused before its request line was read
  } else {
    entry.op = request.method + " " + std::string(path);
  }
  entry.key = named.key;
  entry.version = named.version;
  entry.status = response.status;
  entry.client = request.remote_address;
  if (response.status >= 200 && response.status < 300 && entry.version.empty() &&
      !entry.key.empty() && entry.op.rfind("list", 0) != 0) {
    entry.version = VersionFromKid(response.body, entry.key);
  }
  if (response.status >= 400) entry.code = ErrorCode(response.body);
  return entry;
}

}  // namespace coffre::vault
