#include "common/clock.h"

#include <gtest/gtest.h>

namespace coffre {
namespace {

using namespace std::chrono_literals;

TEST(ManualClockTest, MovesOnlyWhenAdvancedAndKeepsBothReadingsTogether) {
  ManualClock clock;
  auto wall = clock.Now();
  auto steady = clock.SteadyNow();
  EXPECT_EQ(clock.Now(), wall);
  clock.Advance(1500ms);
  EXPECT_EQ(clock.Now() - wall, 1500ms);
  EXPECT_EQ(clock.SteadyNow() - steady, 1500ms);
  EXPECT_EQ(clock.NowSeconds(), 1'800'000'001);
  EXPECT_EQ(clock.NowMillis(), 1'800'000'001'500);
}

TEST(ManualClockTest, AStepOfWallTimeNeverMovesSteadyTimeBack) {
  ManualClock clock;
  auto steady = clock.SteadyNow();
  clock.SetNow(Clock::WallTime(std::chrono::seconds(1'000)));
  EXPECT_EQ(clock.NowSeconds(), 1'000);
  EXPECT_EQ(clock.SteadyNow(), steady);
  clock.Advance(-5s);  // ignored: time does not run backwards
  EXPECT_EQ(clock.SteadyNow(), steady);
}

TEST(SystemClockTest, ReadsTheRealClocks) {
  auto before = std::chrono::system_clock::now();
  auto now = SystemClock().Now();
  EXPECT_GE(now, before);
  EXPECT_LE(now - before, 60s);
  auto steady = SystemClock().SteadyNow();
  EXPECT_LE(steady, std::chrono::steady_clock::now());
}

}  // namespace
}  // namespace coffre
