#include <gtest/gtest.h>

#include "cli/device_simulate.h"

namespace coffre::cli {
namespace {

TEST(LatencyHistogramTest, QuantilesWithinTheirBucket) {
  LatencyHistogram h;
  EXPECT_EQ(h.Quantile(0.5), 0);
  for (int64_t us = 1; us <= 1000; ++us) h.Add(us * 100);  // 0.1 ms to 100 ms
  EXPECT_EQ(h.count(), 1000);
  EXPECT_EQ(h.max(), 100'000);
  auto near = [](int64_t got, int64_t want) {
    EXPECT_GE(got, want) << got;
    EXPECT_LE(got, want + want / 64) << got;
  };
  near(h.Quantile(0.5), 50'000);
  near(h.Quantile(0.99), 99'000);
  EXPECT_EQ(h.Quantile(1.0), 100'000);  // never above the largest value
}

TEST(LatencyHistogramTest, SmallValuesAreExactAndHugeOnesCapped) {
  LatencyHistogram h;
  h.Add(0);
  h.Add(63);
  h.Add(64);
  EXPECT_EQ(h.Quantile(0.34), 63);
  EXPECT_EQ(h.Quantile(0.67), 64);
  h.Add(int64_t{1} << 50);
  EXPECT_EQ(h.max(), int64_t{1} << 50);
  EXPECT_GE(h.Quantile(1.0), (int64_t{1} << 39));
}

TEST(NumberedMessageTest, EveryPlaceholderBecomesTheNumber) {
  EXPECT_EQ(NumberedMessage(R"({"n": {n}, "again": "{n}"})", 12), R"({"n": 12, "again": "12"})");
  EXPECT_EQ(NumberedMessage("plain", 3), "plain");
  EXPECT_EQ(NumberedMessage("{n}{n}", 7), "77");
}

TEST(ParsePropertiesTest, NameValuePairs) {
  auto p = ParseProperties({"a=1", "b=x=y", "c="});
  ASSERT_TRUE(p.has_value()) << p.error();
  ASSERT_EQ(p->size(), 3u);
  EXPECT_EQ((*p)[1], std::make_pair(std::string("b"), std::string("x=y")));
  EXPECT_EQ((*p)[2].second, "");
  EXPECT_FALSE(ParseProperties({"novalue"}).has_value());
  EXPECT_FALSE(ParseProperties({"=x"}).has_value());
}

}  // namespace
}  // namespace coffre::cli
