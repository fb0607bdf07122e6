#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include "common/metrics/build_info.h"
#include "common/metrics/gauge_hold.h"
#include "common/metrics/registry.h"
#include "common/metrics/text_format.h"

namespace coffre::metrics {
namespace {

TEST(MetricsTextTest, CountersAndGaugesWithAndWithoutLabels) {
  Registry r;
  Counter& plain = r.AddCounter("coffre_test_events_total", "Events seen.");
  Family<Counter>& by = r.Counters("coffre_test_messages_total", "Messages, by protocol.",
                                   {"protocol", "kind"});
  Gauge& open = r.AddGauge("coffre_test_open", "Open things.");
  plain.Inc();
  plain.Inc(41);
  by.With({"mqtt", "c2d"}).Inc(3);
  by.With({"amqp", "events"}).Inc();
  by.With({"mqtt", "c2d"}).Inc(2);  // the same series
  open.Add(2);
  open.Add(-0.5);
  EXPECT_EQ(r.Render(),
            "# HELP coffre_test_events_total Events seen.\n"
            "# TYPE coffre_test_events_total counter\n"
            "coffre_test_events_total 42\n"
            "# HELP coffre_test_messages_total Messages, by protocol.\n"
            "# TYPE coffre_test_messages_total counter\n"
            "coffre_test_messages_total{protocol=\"amqp\",kind=\"events\"} 1\n"
            "coffre_test_messages_total{protocol=\"mqtt\",kind=\"c2d\"} 5\n"
            "# HELP coffre_test_open Open things.\n"
            "# TYPE coffre_test_open gauge\n"
            "coffre_test_open 1.5\n");
}

TEST(MetricsTextTest, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Registry r;
  Histogram& h = r.AddHistogram("coffre_test_latency_seconds", "Latency.", {0.25, 0.5, 1});
  for (double v : {0.125, 0.25, 0.375, 0.75, 7.0}) h.Observe(v);
  h.Observe(std::nan(""));  // not counted
  Family<Histogram>& sizes =
      r.Histograms("coffre_test_batch_messages", "Batch sizes.", {"partition"}, {1, 2});
  sizes.With({"0"}).Observe(2);
  EXPECT_EQ(r.Render(),
            "# HELP coffre_test_latency_seconds Latency.\n"
            "# TYPE coffre_test_latency_seconds histogram\n"
            "coffre_test_latency_seconds_bucket{le=\"0.25\"} 2\n"
            "coffre_test_latency_seconds_bucket{le=\"0.5\"} 3\n"
            "coffre_test_latency_seconds_bucket{le=\"1\"} 4\n"
            "coffre_test_latency_seconds_bucket{le=\"+Inf\"} 5\n"
            "coffre_test_latency_seconds_sum 8.5\n"
            "coffre_test_latency_seconds_count 5\n"
            "# HELP coffre_test_batch_messages Batch sizes.\n"
            "# TYPE coffre_test_batch_messages histogram\n"
            "coffre_test_batch_messages_bucket{partition=\"0\",le=\"1\"} 0\n"
            "coffre_test_batch_messages_bucket{partition=\"0\",le=\"2\"} 1\n"
            "coffre_test_batch_messages_bucket{partition=\"0\",le=\"+Inf\"} 1\n"
            "coffre_test_batch_messages_sum{partition=\"0\"} 2\n"
            "coffre_test_batch_messages_count{partition=\"0\"} 1\n");
}

TEST(MetricsTextTest, EscapesLabelValuesAndHelp) {
  Registry r;
  r.Gauges("coffre_test_state", "A \\ backslash\nand a newline.", {"reason"})
      .With({"say \"no\"\\\nthen"})
      .Set(1);
  EXPECT_EQ(r.Render(),
            "# HELP coffre_test_state A \\\\ backslash\\nand a newline.\n"
            "# TYPE coffre_test_state gauge\n"
            "coffre_test_state{reason=\"say \\\"no\\\"\\\\\\nthen\"} 1\n");
}

TEST(MetricsTextTest, ValuesAsPrometheusReadsThem) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(-3), "-3");
  EXPECT_EQ(FormatValue(1e300), "1e+300");
  EXPECT_EQ(FormatValue(18446744073709551615.0), "18446744073709551616");  // shorter than 1.8e+19
  EXPECT_EQ(FormatValue(9007199254740991.0), "9007199254740991");
  EXPECT_EQ(FormatValue(0.005), "0.005");
  EXPECT_EQ(FormatValue(2.5e-7), "2.5e-07");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
}

TEST(MetricsTextTest, NamesAsPrometheusAllowsThem) {
  EXPECT_TRUE(ValidMetricName("coffre_hub_messages_received_total"));
  EXPECT_TRUE(ValidMetricName("a:b_c"));
  EXPECT_FALSE(ValidMetricName("9lives"));
  EXPECT_FALSE(ValidMetricName("coffre-hub"));
  EXPECT_FALSE(ValidMetricName(""));
  EXPECT_TRUE(ValidLabelName("protocol"));
  EXPECT_FALSE(ValidLabelName("__name__"));
  EXPECT_FALSE(ValidLabelName("a:b"));
}

TEST(MetricsTextTest, CallbacksAreReadAtEachScrape) {
  Registry r;
  double depth = 3;
  r.AddCallback("coffre_test_queue_depth", "Queued.", MetricType::kGauge, [&] { return depth; });
  r.AddCallback("coffre_test_partition_bytes", "Bytes.", MetricType::kGauge, {"partition"}, [] {
    return std::vector<Sample>{{{"0"}, 10}, {{"1"}, 20}};
  });
  r.AddCallback("coffre_test_none", "Nothing yet.", MetricType::kCounter, {"x"},
                [] { return std::vector<Sample>{}; });
  depth = 4;
  EXPECT_EQ(r.Render(),
            "# HELP coffre_test_queue_depth Queued.\n"
            "# TYPE coffre_test_queue_depth gauge\n"
            "coffre_test_queue_depth 4\n"
            "# HELP coffre_test_partition_bytes Bytes.\n"
            "# TYPE coffre_test_partition_bytes gauge\n"
            "coffre_test_partition_bytes{partition=\"0\"} 10\n"
            "coffre_test_partition_bytes{partition=\"1\"} 20\n"
            "# HELP coffre_test_none Nothing yet.\n"
            "# TYPE coffre_test_none counter\n");
}

TEST(MetricsTextTest, BuildInfoNamesTheVersion) {
  Registry r;
  AddBuildInfo(r, "coffre_test");
  EXPECT_EQ(r.Render(), "# HELP coffre_test_build_info Always 1; the version of the running "
                        "daemon is in its label.\n"
                        "# TYPE coffre_test_build_info gauge\n"
                        "coffre_test_build_info{version=\"" + std::string(Version()) + "\"} 1\n");
  EXPECT_FALSE(Version().empty());
}

TEST(MetricsTest, AGaugeHoldCountsOneWhileItLivesAndMoves) {
  Gauge open, authenticated;
  {
    GaugeHold a(&open);
    GaugeHold b(&open);
    EXPECT_EQ(open.value(), 2);
    b.Reset(&authenticated);
    EXPECT_EQ(open.value(), 1);
    EXPECT_EQ(authenticated.value(), 1);
    GaugeHold moved = std::move(b);
    EXPECT_EQ(authenticated.value(), 1);
    GaugeHold none(nullptr);
    none.Reset();
  }
  EXPECT_EQ(open.value(), 0);
  EXPECT_EQ(authenticated.value(), 0);
}

TEST(MetricsTest, ConcurrentObservationsAreAllCounted) {
  Registry r;
  Counter& c = r.AddCounter("coffre_test_total", "n");
  Histogram& h = r.AddHistogram("coffre_test_seconds", "s", ExponentialBuckets(0.001, 2, 10));
  Family<Counter>& f = r.Counters("coffre_test_by_total", "n", {"k"});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Counter& mine = f.With({t % 2 == 0 ? "even" : "odd"});
      for (int i = 0; i < 10000; ++i) {
        c.Inc();
        h.Observe(0.001 * (i % 20));
        mine.Inc();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.value(), 40000u);
  EXPECT_EQ(h.Read().count(), 40000u);
  EXPECT_EQ(f.With({"even"}).value() + f.With({"odd"}).value(), 40000u);
}

TEST(MetricsTest, ExponentialBuckets) {
  EXPECT_EQ(ExponentialBuckets(1, 2, 4), (std::vector<double>{1, 2, 4, 8}));
}

}  // namespace
}  // namespace coffre::metrics
