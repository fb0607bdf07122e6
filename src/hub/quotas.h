#pragma once
// Quotas: the hub-wide operation budgets, in the spirit of Azure IoT Hub's per-tier throttles,
// shared by every protocol front end (MQTT, MQTT over WebSocket, the HTTPS device API): one
// token bucket per operation class. What a front end does when a budget is spent is its own,
// protocol-appropriate call (MQTT delays, then disconnects; HTTPS answers 429
// ThrottlingException with Retry-After). Generous by default. In cluster mode each of N
// running hub nodes takes 1/N of every budget (ShareAmong), so the nodes together allow what
// one would; devices spread unevenly over the nodes may meet their node's share before the
// hub's whole budget is spent. Thread-safe.

#include <atomic>
#include <chrono>
#include <memory>

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

  // This node's share of the budgets: 1/nodes of each (nodes >= 1; the default is 1). A
  // change starts this node's buckets full at the new size.
  void ShareAmong(size_t nodes);
  size_t sharing_nodes() const { return sharing_.load(); }

 private:
  const QuotaOptions options_;
  std::atomic<size_t> sharing_{1};
  std::atomic<std::shared_ptr<RateLimiter>> d2c_;  // one key: the hub
};

}  // namespace coffre::hub
