#include "amqp/selector.h"

#include <gtest/gtest.h>

#include "amqp/router.h"

namespace coffre::amqp {
namespace {

using Kind = StartPosition::Kind;

TEST(SelectorTest, TheEventHubsSdkForms) {
  auto p = ParseSelector("amqp.annotation.x-opt-offset > '-1'");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind, Kind::kStart);
  p = ParseSelector("amqp.annotation.x-opt-offset > '@latest'");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind, Kind::kLatest);
  p = ParseSelector("amqp.annotation.x-opt-offset > '42'");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind, Kind::kOffset);
  EXPECT_EQ(p->value, 42);
  EXPECT_FALSE(p->inclusive);
  p = ParseSelector("amqp.annotation.x-opt-sequence-number >= '7'");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind, Kind::kSequence);
  EXPECT_TRUE(p->inclusive);
  p = ParseSelector("  AMQP.ANNOTATION.X-OPT-ENQUEUED-TIME='1700000000000' ");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind, Kind::kEnqueuedTime);
  EXPECT_EQ(p->value, 1700000000000);
  EXPECT_TRUE(p->inclusive);
}

TEST(SelectorTest, RefusesOtherExpressions) {
  EXPECT_FALSE(ParseSelector(""));
  EXPECT_FALSE(ParseSelector("amqp.annotation.x-opt-offset > 42"));
  EXPECT_FALSE(ParseSelector("amqp.annotation.x-opt-offset < '42'"));
  EXPECT_FALSE(ParseSelector("amqp.annotation.x-opt-offset > '4x2'"));
  EXPECT_FALSE(ParseSelector("amqp.annotation.x-opt-offset > '-5'"));
  EXPECT_FALSE(ParseSelector("amqp.annotation.x-opt-offset > '99999999999999999999999'"));
  EXPECT_FALSE(ParseSelector("amqp.annotation.x-opt-partition-key > 'a'"));
  EXPECT_FALSE(ParseSelector(std::string(4096, 'a')));
}

TEST(SelectorTest, FirstSequenceIsExclusiveUnlessInclusiveAndClamped) {
  auto seek = [](int64_t ms) { return static_cast<uint64_t>(ms / 10); };
  EXPECT_EQ(FirstSequence({Kind::kStart, 0, false}, 5, 20, seek), 5u);
  EXPECT_EQ(FirstSequence({Kind::kLatest, 0, false}, 5, 20, seek), 20u);
  EXPECT_EQ(FirstSequence({Kind::kSequence, 9, false}, 5, 20, seek), 10u);
  EXPECT_EQ(FirstSequence({Kind::kSequence, 9, true}, 5, 20, seek), 9u);
  EXPECT_EQ(FirstSequence({Kind::kOffset, 1, false}, 5, 20, seek), 5u);     // retention passed it
  EXPECT_EQ(FirstSequence({Kind::kOffset, 500, false}, 5, 20, seek), 20u);  // beyond the end
  EXPECT_EQ(FirstSequence({Kind::kSequence, -1, false}, 5, 20, seek), 5u);
  EXPECT_EQ(FirstSequence({Kind::kEnqueuedTime, 99, false}, 5, 20, seek), 10u);  // > 99 ms
}

TEST(RouterTest, NormalizesAddressesAndMatchesWholeSegments) {
  EXPECT_EQ(NormalizeAddress("amqps://host:5671/hub/$management"), "hub/$management");
  EXPECT_EQ(NormalizeAddress("/messages/devicebound"), "messages/devicebound");
  EXPECT_EQ(NormalizeAddress("$cbs"), "$cbs");
  EXPECT_EQ(NormalizeAddress("amqps://host"), "");
  auto under = AddressUnder("messages/events");
  EXPECT_TRUE(under("messages/events"));
  EXPECT_TRUE(under("Messages/Events/$management"));
  EXPECT_FALSE(under("messages/eventsX"));
  EXPECT_FALSE(under("messages"));
  Router r;
  r.Add({"a", Role::kHubSends, ExactAddress("$cbs"), nullptr});
  r.Add({"b", Role::kHubReceives, ExactAddress("$cbs"), nullptr});
  EXPECT_EQ(r.Find(Role::kHubSends, "$CBS")->name, "a");
  EXPECT_EQ(r.Find(Role::kHubReceives, "$cbs")->name, "b");
  EXPECT_EQ(r.Find(Role::kHubSends, "nothing"), nullptr);
}

}  // namespace
}  // namespace coffre::amqp
