#include "hubapi/status_page_api.h"

#include <string_view>

#include "hubapi/service_api.h"
#include "hubapi/status_page_assets.h"

namespace coffre::hubapi {
namespace {

// Only the page's own script and style, only its own origin to fetch from, never in a frame.
constexpr const char* kPagePolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

net::HttpResponse Asset(std::string_view body, const char* content_type) {
  net::HttpResponse r;
  r.content_type = content_type;
  r.body = std::string(body);
  r.headers.emplace_back("Content-Security-Policy", kPagePolicy);
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("Cache-Control", "no-cache");
  return r;
}

net::HttpResponse Json(unsigned status, const nlohmann::json& body) {
  net::HttpResponse r;
  r.status = status;
  r.content_type = "application/json; charset=utf-8";
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  r.headers.emplace_back("Cache-Control", "no-store");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  return r;
}

}  // namespace

std::optional<net::HttpResponse> StatusPageApi::Handle(const net::HttpRequest& request) {
  const std::string& t = request.target;
  std::optional<net::HttpResponse> out;
  if (ServiceApi::IsCoffrePath(t, "status")) {
    out = Asset(kStatusPageHtml, "text/html; charset=utf-8");
  } else if (ServiceApi::IsCoffrePath(t, "status/app.js")) {
    out = Asset(kStatusPageScript, "text/javascript; charset=utf-8");
  } else if (ServiceApi::IsCoffrePath(t, "status/style.css")) {
    out = Asset(kStatusPageStyle, "text/css; charset=utf-8");
  } else if (ServiceApi::IsCoffrePath(t, "status/data")) {
    if (request.method != "GET" && request.method != "HEAD") {
      net::HttpResponse r = ServiceApi::Error(405, "MethodNotAllowed", "Use GET.");
      r.headers.emplace_back("Allow", "GET, HEAD");
      return r;
    }
    return AnswerData(request);
  } else {
    return std::nullopt;
  }
  if (request.method != "GET" && request.method != "HEAD") {
    net::HttpResponse r = ServiceApi::Error(405, "MethodNotAllowed", "Use GET.");
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  }
  if (request.method == "HEAD") out->body.clear();
  return out;
}

net::HttpResponse StatusPageApi::AnswerData(const net::HttpRequest& request) {
  if (std::optional<nlohmann::json> key = inaccessible_()) {
    return Json(403, {{"ErrorCode", "CustomerManagedKeyInaccessible"}, {"key", *key}});
  }
  Result<hub::AccessPolicy> caller =
      policies_.Authorize(request.Header("Authorization"), hub::kServiceConnect);
  if (!caller.has_value()) return ServiceApi::RefusedCaller(caller.error());
  net::HttpResponse r = Json(200, data_());
  if (request.method == "HEAD") r.body.clear();
  return r;
}

}  // namespace coffre::hubapi
