#pragma once
// Histogram: observations counted in fixed buckets (Prometheus' histogram). Each bucket has an
// upper bound ("le"); a last one, +Inf, takes the rest. Observe finds the bucket by binary
// search and makes two relaxed atomic updates (the bucket's count, the sum): no lock, no
// allocation. A snapshot read while others observe is consistent in its counts (the total is
// their sum) but its sum may be a few observations behind or ahead. Thread-safe.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

namespace coffre::metrics {

class Histogram {
 public:
  // `upper_bounds`: finite and strictly increasing (a programming error aborts); +Inf is added.
  explicit Histogram(std::vector<double> upper_bounds);

  // NaN is not counted.
  void Observe(double value);
  // The seconds since `start`, on the steady clock.
  void ObserveSince(std::chrono::steady_clock::time_point start);

  struct Snapshot {
    std::vector<double> upper_bounds;  // without +Inf
    std::vector<uint64_t> cumulative;  // per bound, then +Inf: observations <= each bound
    double sum = 0;
    uint64_t count() const { return cumulative.back(); }
  };
  Snapshot Read() const;

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1, not cumulative
  std::atomic<double> sum_{0};
};

// `count` bounds: start, start * factor, start * factor^2, ... (start > 0, factor > 1).
std::vector<double> ExponentialBuckets(double start, double factor, int count);

}  // namespace coffre::metrics
