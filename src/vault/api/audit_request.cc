#include "vault/api/audit_request.h"

#include <vector>

#include <nlohmann/json.hpp>

#include "common/strings.h"
#include "vault/api/routes.h"

namespace coffre::vault {
namespace {

struct Named {
  std::string_view op;
  std::string_view key;
  std::string_view version;
};

// The route table's name for the request (routes.h), whatever the vault has configured; a
// path it does not know keeps its method and path as the op.
Named Classify(std::string_view method, const std::vector<std::string_view>& segments) {
  if ((method == "GET" || method == "HEAD") && segments.size() == 1 && segments[0] == "metrics") {
    return {"getMetrics", {}, {}};
  }
  RouteMatch match = MatchRoute(VaultRoutes(), method, segments);
  if (match.path_route == nullptr) return {};
  std::string_view key = match.params.has_key ? match.params.key : match.params.principal;
  return {OperationName(match), key, match.params.version};
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


std::string_view RequestPath(const net::HttpRequest& request) {
  std::string_view path = request.target;
  return path.substr(0, path.find('?'));
}

Named Classify(const net::HttpRequest& request) {
  std::string_view path = RequestPath(request);
  std::vector<std::string_view> segments =
      Split(path.empty() || path[0] != '/' ? path : path.substr(1), '/');
  return Classify(request.method, segments);
}

}  // namespace

std::string_view OperationOf(const net::HttpRequest& request) { return Classify(request).op; }

bool IsMetricsPath(const net::HttpRequest& request) { return RequestPath(request) == "/metrics"; }

AuditEntry DescribeRequest(const net::HttpRequest& request, std::string_view principal,
                           const net::HttpResponse& response) {
  std::string_view path = RequestPath(request);
  Named named = Classify(request);

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
