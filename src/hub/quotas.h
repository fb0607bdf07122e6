#pragma once
// Quotas: the hub-wide operation budgets, in the spirit of Azure IoT Hub's per-tier throttles,
// shared by every protocol front end (MQTT, MQTT over WebSocket, the HTTPS device API): one
// token bucket per operation class. What a front end does when a budget is spent is its own,
// protocol-appropriate call (MQTT delays, then disconnects; HTTPS answers 429
// ThrottlingException with Retry-After). Generous by default. Thread-safe.

#include <chrono>

#include "common/rate_limiter.h"

namespace coffre::hub {

struct QuotaOptions {
  // Device-to-cloud messages per second over every device and protocol (Azure's S3 tier allows
  // 6,000/s per unit); the burst absorbs spikes. per_second <= 0: no limit.
  RateLimit d2c_sends{100'000, 200'000};
};

class Quotas {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  explicit Quotas(QuotaOptions options = {});

  // Takes `messages` device-to-cloud sends from the budget: zero if taken; else none is taken
  // and the result is how long until there will be enough (always > 0).
  std::chrono::milliseconds TakeD2c(TimePoint now, double messages = 1);

  const QuotaOptions& options() const { return options_; }

 private:
  const QuotaOptions options_;
  RateLimiter d2c_;  // one key: the hub
};

}  // namespace coffre::hub
