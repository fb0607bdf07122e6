// Quotas: the hub-wide budgets, and a cluster node's share of them.
#include "hub/quotas.h"

#include <gtest/gtest.h>

namespace coffre::hub {
namespace {

using Clock = std::chrono::steady_clock;

// How many single sends the budget takes at one instant.
int TakenAtOnce(Quotas& q, Clock::time_point now) {
  int taken = 0;
  while (taken < 1000 && q.TakeD2c(now).count() == 0) ++taken;
  return taken;
}

TEST(QuotasTest, EachOfNNodesTakesOneNthOfTheBudget) {
  Quotas q({RateLimit{10, 12}});
  const auto t0 = Clock::now();
  EXPECT_EQ(TakenAtOnce(q, t0), 12);  // the burst
  q.ShareAmong(3);
  EXPECT_EQ(q.sharing_nodes(), 3u);
  EXPECT_EQ(TakenAtOnce(q, t0), 4);  // a third of it, its bucket new and full
  // A third of the rate: 10/3 a second, so 3 in the next second (and change).
  EXPECT_EQ(TakenAtOnce(q, t0 + std::chrono::seconds(1)), 3);
  q.ShareAmong(1);
  EXPECT_EQ(TakenAtOnce(q, t0 + std::chrono::seconds(1)), 12);
  q.ShareAmong(0);  // taken as one node
  EXPECT_EQ(q.sharing_nodes(), 1u);
}

TEST(QuotasTest, AShareNeverFallsBelowOneMessageOrLimitsAnUnlimitedBudget) {
  Quotas tiny({RateLimit{1, 1}});
  tiny.ShareAmong(4);
  EXPECT_EQ(TakenAtOnce(tiny, Clock::now()), 1);
  Quotas unlimited({RateLimit{0, 0}});
  unlimited.ShareAmong(4);
  EXPECT_EQ(TakenAtOnce(unlimited, Clock::now()), 1000);
}

}  // namespace
}  // namespace coffre::hub
