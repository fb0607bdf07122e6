#include "net/health_probe.h"

#include <nlohmann/json.hpp>

namespace coffre::net {

std::optional<HttpResponse> HealthProbe(const HttpRequest& request,
                                        const std::function<std::vector<std::string>()>& not_ready) {
  std::string_view path = std::string_view(request.target).substr(0, request.target.find('?'));
  if (path != "/healthz" && path != "/readyz") return std::nullopt;
  HttpResponse r;
  if (request.method != "GET" && request.method != "HEAD") {
    r.status = 405;
    r.headers.emplace_back("Allow", "GET, HEAD");
    r.body = R"({"status":"method not allowed"})";
    return r;
  }
  r.headers.emplace_back("Cache-Control", "no-store");
  if (path == "/healthz") {
    if (request.method == "GET") r.body = R"({"status":"alive"})";
    return r;
  }
  std::vector<std::string> reasons = not_ready ? not_ready() : std::vector<std::string>{};
  if (reasons.empty()) {
    r.body = R"({"status":"ready"})";
  } else {
    r.status = 503;
    r.body = nlohmann::json{{"status", "not ready"}, {"reasons", reasons}}.dump();
  }
  if (request.method == "HEAD") r.body.clear();  // the status says it; a HEAD reply has no body
  return r;
}

}  // namespace coffre::net
