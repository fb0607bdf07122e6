#pragma once
// Clock: where the code reads the time. Injected (a Clock&), so tests advance a ManualClock
// instead of sleeping. Two readings with the unit in the type: wall time (system_clock) for
// timestamps, expiries and schedules; steady time for deadlines and rates.
// SystemClock() is thread-safe; ManualClock is thread-safe (tests advance it from the test
// thread while the code under test reads it).

#include <atomic>
#include <chrono>
#include <cstdint>

namespace coffre {

class Clock {
 public:
  using WallTime = std::chrono::system_clock::time_point;
  using SteadyTime = std::chrono::steady_clock::time_point;

  virtual ~Clock() = default;
  virtual WallTime Now() const = 0;
  virtual SteadyTime SteadyNow() const = 0;

  // Wall time as a count since the epoch, for formats that store integers.
  int64_t NowSeconds() const;
  int64_t NowMillis() const;
};

// Wall time as milliseconds since the epoch and back, for formats that store integers.
int64_t ToMillis(Clock::WallTime t);
Clock::WallTime FromMillis(int64_t ms);

// The real clocks of the process.
Clock& SystemClock();

// A clock that moves only when told to. Starts at `start` (wall) and at a fixed steady epoch;
// Advance moves both readings together.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(WallTime start = WallTime(std::chrono::seconds(1'800'000'000)));

  WallTime Now() const override;
  SteadyTime SteadyNow() const override;

  void Advance(std::chrono::nanoseconds by);
  void SetNow(WallTime to);  // moves wall time only (a clock step); steady time never goes back

 private:
  std::atomic<int64_t> wall_ns_;
  std::atomic<int64_t> steady_ns_{0};
};

}  // namespace coffre
