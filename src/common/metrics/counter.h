#pragma once
// Counter: a count that only goes up (Prometheus' counter): messages received, refusals. Inc is
// one relaxed atomic add, on any thread, with no lock and no allocation. Thread-safe.

#include <atomic>
#include <cstdint>

namespace coffre::metrics {

class Counter {
 public:
  void Inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

}  // namespace coffre::metrics
