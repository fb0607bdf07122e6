#pragma once
// Gauge: a value that goes up and down (Prometheus' gauge): connections open, queue lengths.
// Set and Add are relaxed atomic operations, with no lock and no allocation. A value kept
// elsewhere is better read at scrape time (Registry::AddCallback) than copied here.
// Thread-safe.

#include <atomic>

namespace coffre::metrics {

class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

}  // namespace coffre::metrics
