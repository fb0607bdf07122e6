#include "hub/traffic_history.h"

#include <algorithm>
#include <cmath>

namespace coffre::hub {

std::optional<double> TrafficHistory::Quantile(const metrics::Histogram::Snapshot& before,
                                               const metrics::Histogram::Snapshot& after,
                                               double quantile) {
  if (after.cumulative.empty() || after.upper_bounds.empty()) return std::nullopt;
  auto at = [](const metrics::Histogram::Snapshot& s, size_t i) -> uint64_t {
    return i < s.cumulative.size() ? s.cumulative[i] : 0;
  };
  uint64_t total = after.count() - (before.cumulative.empty() ? 0 : before.count());
  if (total == 0) return std::nullopt;
  auto rank = static_cast<uint64_t>(std::ceil(quantile * static_cast<double>(total)));
  for (size_t i = 0; i < after.cumulative.size(); ++i) {
    if (at(after, i) - at(before, i) >= rank) {
      return after.upper_bounds[std::min(i, after.upper_bounds.size() - 1)];
    }
  }
  return after.upper_bounds.back();
}

void TrafficHistory::Add(int64_t now_ms, uint64_t messages_stored,
                         const metrics::Histogram::Snapshot& latency, uint64_t connections) {
  std::lock_guard lock(mu_);
  if (last_ms_.has_value() && now_ms > *last_ms_) {
    TrafficSample s;
    s.time_ms = now_ms;
    s.messages_per_second = static_cast<double>(messages_stored - last_stored_) * 1000.0 /
                            static_cast<double>(now_ms - *last_ms_);
    auto ms = [](std::optional<double> seconds) -> std::optional<double> {
      if (!seconds) return std::nullopt;
      return *seconds * 1000.0;
    };
    s.ack_p50_ms = ms(Quantile(last_latency_, latency, 0.5));
    s.ack_p99_ms = ms(Quantile(last_latency_, latency, 0.99));
    s.connections = connections;
    samples_.push_back(s);
    if (samples_.size() > kSeconds) samples_.pop_front();
  }
  last_ms_ = now_ms;
  last_stored_ = messages_stored;
  last_latency_ = latency;
}

std::vector<TrafficSample> TrafficHistory::Samples() const {
  std::lock_guard lock(mu_);
  return {samples_.begin(), samples_.end()};
}

}  // namespace coffre::hub
