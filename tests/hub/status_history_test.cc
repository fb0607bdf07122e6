// The status page's memory: the key's timeline (flips, rotations, bounded) and the traffic
// history (rate and latency percentiles per interval).
#include <gtest/gtest.h>

#include "hub/key_timeline.h"
#include "hub/traffic_history.h"

namespace coffre::hub {
namespace {

EncryptionStatus Status(bool accessible, std::string key_id, std::string reason = "",
                        int64_t since = 0) {
  EncryptionStatus s;
  s.accessible = accessible;
  s.key_id = std::move(key_id);
  s.reason = std::move(reason);
  s.since_ms = since;
  return s;
}

TEST(KeyTimelineTest, KeepsFlipsAndRotationsOnly) {
  KeyTimeline t;
  t.Record(Status(true, "k/1"), 1000);
  t.Record(Status(true, "k/1"), 2000);                       // nothing new
  t.Record(Status(false, "k/1", "KeyDisabled", 2500), 3000);  // at the time the state began
  t.Record(Status(false, "k/1", "KeyDisabled", 2500), 4000);
  t.Record(Status(true, "k/1", "", 4500), 5000);
  t.Record(Status(true, "k/2"), 6000);  // a rotation
  auto events = t.Events();
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].kind, "started");
  EXPECT_EQ(events[1].kind, "inaccessible");
  EXPECT_EQ(events[1].reason, "KeyDisabled");
  EXPECT_EQ(events[1].time_ms, 2500);
  EXPECT_EQ(events[2].kind, "accessible");
  EXPECT_EQ(events[2].time_ms, 4500);
  EXPECT_EQ(events[3].kind, "rotated");
  EXPECT_EQ(events[3].key_id, "k/2");
}

TEST(KeyTimelineTest, AStartWhileInaccessibleSaysSoAndTheEventsAreBounded) {
  KeyTimeline t;
  t.Record(Status(false, "k/1", "VaultUnreachable"), 10);
  auto events = t.Events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].kind, "inaccessible");
  for (int i = 0; i < 2000; ++i) t.Record(Status(i % 2 == 0, "k/1", "KeyDisabled"), 100 + i);
  events = t.Events();
  EXPECT_EQ(events.size(), KeyTimeline::kMaxEvents);
  EXPECT_EQ(events.back().time_ms, 100 + 1999);  // the newest kept
}

metrics::Histogram::Snapshot Latencies(std::vector<uint64_t> per_bucket) {
  metrics::Histogram::Snapshot s;
  s.upper_bounds = {0.001, 0.01, 0.1};
  uint64_t total = 0;
  for (uint64_t n : per_bucket) s.cumulative.push_back(total += n);
  return s;
}

TEST(TrafficHistoryTest, RatesAndPercentilesAreOfEachInterval) {
  TrafficHistory h;
  h.Add(0, 100, Latencies({0, 0, 0, 0}), 0);  // the first only sets the base
  EXPECT_TRUE(h.Samples().empty());
  h.Add(2000, 300, Latencies({90, 9, 1, 0}), 3);  // 200 messages in 2 s
  h.Add(3000, 300, Latencies({90, 9, 1, 0}), 3);  // none in the next second
  h.Add(4000, 310, Latencies({90, 9, 1, 10}), 2);  // 10 slow ones: past the last bound
  auto s = h.Samples();
  ASSERT_EQ(s.size(), 3u);
  EXPECT_DOUBLE_EQ(s[0].messages_per_second, 100);
  EXPECT_DOUBLE_EQ(*s[0].ack_p50_ms, 1);
  EXPECT_DOUBLE_EQ(*s[0].ack_p99_ms, 10);
  EXPECT_EQ(s[0].connections, 3u);
  EXPECT_DOUBLE_EQ(s[1].messages_per_second, 0);
  EXPECT_FALSE(s[1].ack_p50_ms.has_value());
  EXPECT_DOUBLE_EQ(*s[2].ack_p50_ms, 100);  // +Inf reads as the last finite bound
}

TEST(TrafficHistoryTest, KeepsTheLastFiveMinutes) {
  TrafficHistory h;
  for (int i = 0; i <= 1000; ++i) h.Add(i * 1000, static_cast<uint64_t>(i), Latencies({0, 0, 0, 0}), 0);
  auto s = h.Samples();
  ASSERT_EQ(s.size(), TrafficHistory::kSeconds);
  EXPECT_EQ(s.back().time_ms, 1000 * 1000);
}

}  // namespace
}  // namespace coffre::hub
