#pragma once
// HttpThrottle: the hub's HTTPS throttling, in the way Azure IoT Hub throttles. A source address
// whose requests fail authentication too often is refused with 429 ThrottlingException and a
// Retry-After, without its credentials being checked again, until its budget refills; and the
// registry operations (device identity create, get, update, delete, list, statistics) of the
// whole hub share one quota per second. Both are token buckets (common/rate_limiter.h); a rate
// of 0 turns one off. Thread-safe.

#include <chrono>
#include <functional>
#include <optional>
#include <string_view>

#include "common/rate_limiter.h"
#include "net/http_types.h"

namespace coffre::hubapi {

struct HttpThrottleOptions {
  // Per source address: this many refused credentials at once, then `per_second`.
  RateLimit failed_auth_per_source{10, 100};
  // Hub-wide: registry operations per second (Azure's S1 unit allows 100 a minute: generous).
  RateLimit registry_operations{100, 200};
};

class HttpThrottle {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  explicit HttpThrottle(HttpThrottleOptions options = {},
                        Clock clock = [] { return std::chrono::steady_clock::now(); });

  // Before routing: a 429 for a source that used up its failed-authentication budget.
  std::optional<net::HttpResponse> RefuseSource(const net::HttpRequest& request) const;
  // After routing: a refused credential (401) is charged to the request's source.
  void Observe(const net::HttpRequest& request, const net::HttpResponse& response);
  // One registry operation from the hub-wide quota, or the 429 to answer.
  std::optional<net::HttpResponse> TakeRegistryOperation();

  // 429 ThrottlingException, Retry-After in whole seconds (at least 1).
  static net::HttpResponse Throttled(std::chrono::milliseconds retry_after, std::string_view message);

 private:
  Clock clock_;
  RateLimiter failed_auth_;
  RateLimiter registry_;
};

}  // namespace coffre::hubapi
