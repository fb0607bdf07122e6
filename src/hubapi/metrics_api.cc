#include "hubapi/metrics_api.h"

#include "hubapi/service_api.h"

namespace coffre::hubapi {

bool MetricsApi::Matches(const net::HttpRequest& request) {
  return std::string_view(request.target).substr(0, request.target.find('?')) == "/metrics";
}

std::optional<net::HttpResponse> MetricsApi::Handle(const net::HttpRequest& request) {
  if (!Matches(request)) return std::nullopt;
  if (request.method != "GET" && request.method != "HEAD") {
    net::HttpResponse r = ServiceApi::Error(405, "MethodNotAllowed", "Use GET.");
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  }
  if (!open_) {
    if (refuse_if_inaccessible_) {
      if (auto refusal = refuse_if_inaccessible_()) return refusal;
    }
    Result<hub::AccessPolicy> caller =
        policies_.Authorize(request.Header("Authorization"), hub::kServiceConnect);
    if (!caller.has_value()) return ServiceApi::RefusedCaller(caller.error());
  }
  net::HttpResponse r;
  r.content_type = std::string(metrics::kTextContentType);
  r.headers.emplace_back("Cache-Control", "no-store");
  if (request.method == "GET") r.body = registry_.Render();
  return r;
}

}  // namespace coffre::hubapi
