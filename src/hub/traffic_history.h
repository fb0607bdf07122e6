#pragma once
// TrafficHistory: the hub's telemetry rate and acknowledgement latency, second by second, over
// the last kSeconds, for the status page's charts. Each Add takes the running totals (messages
// stored, the acknowledgement latency histogram) and keeps the difference from the previous
// one: messages per second and the latency percentiles of that interval. Thread-safe.

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

#include "common/metrics/histogram.h"

namespace coffre::hub {

struct TrafficSample {
  int64_t time_ms = 0;
  double messages_per_second = 0;
  // Of the messages acknowledged in the interval, at the histogram's bucket bounds (the upper
  // bound of the bucket the percentile falls in); none when no message was.
  std::optional<double> ack_p50_ms, ack_p99_ms;
  uint64_t connections = 0;  // devices' connections open at the time
};

class TrafficHistory {
 public:
  static constexpr size_t kSeconds = 300;

  void Add(int64_t now_ms, uint64_t messages_stored, const metrics::Histogram::Snapshot& latency,
           uint64_t connections);
  std::vector<TrafficSample> Samples() const;  // oldest first

  // The smallest bucket bound holding `quantile` of the observations between two snapshots of
  // one histogram (seconds), or nullopt if there were none. The +Inf bucket reads as the last
  // finite bound.
  static std::optional<double> Quantile(const metrics::Histogram::Snapshot& before,
                                        const metrics::Histogram::Snapshot& after,
                                        double quantile);

 private:
  mutable std::mutex mu_;
  std::deque<TrafficSample> samples_;
  std::optional<int64_t> last_ms_;
  uint64_t last_stored_ = 0;
  metrics::Histogram::Snapshot last_latency_;
};

}  // namespace coffre::hub
