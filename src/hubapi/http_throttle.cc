#include "hubapi/http_throttle.h"

#include <string>

#include "hubapi/service_api.h"

namespace coffre::hubapi {

HttpThrottle::HttpThrottle(HttpThrottleOptions options, Clock clock)
    : clock_(std::move(clock)),
      failed_auth_(options.failed_auth_per_source),
      registry_(options.registry_operations, /*max_keys=*/1) {}

net::HttpResponse HttpThrottle::Throttled(std::chrono::milliseconds retry_after,
                                          std::string_view message) {
  int64_t seconds = std::max<int64_t>(1, (retry_after.count() + 999) / 1000);
  net::HttpResponse r = ServiceApi::Error(429, "ThrottlingException", message);
  r.headers.emplace_back("Retry-After", std::to_string(seconds));
  return r;
}

std::optional<net::HttpResponse> HttpThrottle::RefuseSource(const net::HttpRequest& request) const {
  std::chrono::milliseconds wait = failed_auth_.Peek(request.remote_address, clock_());
  if (wait.count() == 0) return std::nullopt;
  return Throttled(wait, "Too many requests with refused credentials from this address; retry later.");
}

void HttpThrottle::Observe(const net::HttpRequest& request, const net::HttpResponse& response) {
  if (response.status == 401) (void)failed_auth_.Take(request.remote_address, clock_());
}

std::optional<net::HttpResponse> HttpThrottle::TakeRegistryOperation() {
  std::chrono::milliseconds wait = registry_.Take("registry", clock_());
  if (wait.count() == 0) return std::nullopt;
  return Throttled(wait, "The hub's registry operations quota is used up; retry later.");
}

}  // namespace coffre::hubapi
