#include "common/clock.h"

namespace coffre {

using std::chrono::duration_cast;

int64_t Clock::NowSeconds() const {
  return duration_cast<std::chrono::seconds>(Now().time_since_epoch()).count();
}

int64_t Clock::NowMillis() const { return ToMillis(Now()); }

int64_t ToMillis(Clock::WallTime t) {
  return duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

Clock::WallTime FromMillis(int64_t ms) {
  return Clock::WallTime(duration_cast<Clock::WallTime::duration>(std::chrono::milliseconds(ms)));
}

namespace {

class RealClock final : public Clock {
 public:
  WallTime Now() const override { return std::chrono::system_clock::now(); }
  SteadyTime SteadyNow() const override { return std::chrono::steady_clock::now(); }
};

}  // namespace

Clock& SystemClock() {
  static RealClock clock;
  return clock;
}

ManualClock::ManualClock(WallTime start)
    : wall_ns_(duration_cast<std::chrono::nanoseconds>(start.time_since_epoch()).count()) {}

Clock::WallTime ManualClock::Now() const {
  return WallTime(duration_cast<std::chrono::system_clock::duration>(
      std::chrono::nanoseconds(wall_ns_.load())));
}

Clock::SteadyTime ManualClock::SteadyNow() const {
  return SteadyTime(duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::nanoseconds(steady_ns_.load())));
}

void ManualClock::Advance(std::chrono::nanoseconds by) {
  if (by.count() < 0) by = std::chrono::nanoseconds(0);
  wall_ns_ += by.count();
  steady_ns_ += by.count();
}

void ManualClock::SetNow(WallTime to) {
  wall_ns_ = duration_cast<std::chrono::nanoseconds>(to.time_since_epoch()).count();
}

}  // namespace coffre
