#include "common/rate_limiter.h"

#include <gtest/gtest.h>

namespace coffre {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const TokenBucket::TimePoint kStart = std::chrono::steady_clock::time_point() + seconds(1000);

TEST(TokenBucketTest, AllowsTheBurstThenRefusesWithTheWaitUntilTheNextToken) {
  TokenBucket bucket({.per_second = 2, .burst = 3}, kStart);
  EXPECT_EQ(bucket.Take(kStart), milliseconds(0));
  EXPECT_EQ(bucket.Take(kStart), milliseconds(0));
  EXPECT_EQ(bucket.Take(kStart), milliseconds(0));
  EXPECT_EQ(bucket.Take(kStart), milliseconds(500));
  EXPECT_EQ(bucket.Take(kStart + milliseconds(499)), milliseconds(1));
  EXPECT_EQ(bucket.Take(kStart + milliseconds(500)), milliseconds(0));
}

TEST(TokenBucketTest, RefillsNoHigherThanTheBurst) {
  TokenBucket bucket({.per_second = 10, .burst = 2}, kStart);
  EXPECT_EQ(bucket.Take(kStart, 2), milliseconds(0));
  TokenBucket::TimePoint later = kStart + seconds(60);
  EXPECT_TRUE(bucket.Full(later));
  EXPECT_EQ(bucket.Take(later, 2), milliseconds(0));
  EXPECT_GT(bucket.Take(later), milliseconds(0));
}

TEST(TokenBucketTest, ARefusedTakeCostsNothing) {
  TokenBucket bucket({.per_second = 1, .burst = 1}, kStart);
  EXPECT_EQ(bucket.Take(kStart), milliseconds(0));
  for (int i = 0; i < 100; ++i) EXPECT_GT(bucket.Take(kStart), milliseconds(0));
  EXPECT_EQ(bucket.Take(kStart + seconds(1)), milliseconds(0));
}

TEST(TokenBucketTest, TimeGoingBackDoesNotMintTokens) {
  TokenBucket bucket({.per_second = 1, .burst = 1}, kStart);
  EXPECT_EQ(bucket.Take(kStart), milliseconds(0));
  EXPECT_GT(bucket.Take(kStart - seconds(5)), milliseconds(0));
}

TEST(RateLimiterTest, KeysHaveTheirOwnBuckets) {
  RateLimiter limiter({.per_second = 1, .burst = 1});
  EXPECT_EQ(limiter.Take("10.0.0.1", kStart), milliseconds(0));
  EXPECT_GT(limiter.Take("10.0.0.1", kStart), milliseconds(0));
  EXPECT_EQ(limiter.Take("10.0.0.2", kStart), milliseconds(0));
}

TEST(RateLimiterTest, PeekRefusesAnExhaustedKeyWithoutCharging) {
  RateLimiter limiter({.per_second = 1, .burst = 1});
  EXPECT_EQ(limiter.Peek("a", kStart), milliseconds(0));
  EXPECT_EQ(limiter.Take("a", kStart), milliseconds(0));
  EXPECT_EQ(limiter.Peek("a", kStart), milliseconds(1000));
  EXPECT_EQ(limiter.Peek("a", kStart + seconds(1)), milliseconds(0));
  EXPECT_EQ(limiter.Take("a", kStart + seconds(1)), milliseconds(0));
}

TEST(RateLimiterTest, UnlimitedNeverRefusesAndKeepsNoKeys) {
  RateLimiter limiter({});
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(limiter.Take("k" + std::to_string(i), kStart), milliseconds(0));
  EXPECT_EQ(limiter.keys(), 0u);
}

TEST(RateLimiterTest, ManyKeysStayWithinTheBound) {
  RateLimiter limiter({.per_second = 1, .burst = 5}, 100);
  for (int i = 0; i < 10000; ++i) (void)limiter.Take("source-" + std::to_string(i), kStart);
  EXPECT_LE(limiter.keys(), 100u);
}

}  // namespace
}  // namespace coffre
