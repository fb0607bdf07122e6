#include "mqtt/topics.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace coffre::mqtt {
namespace {

using testing::StatusIs;

// As the Node SDK sent it (iothub-protocol.md §3.4).
constexpr std::string_view kObserved =
    "devices/dev-01/messages/events/%24.mid=dev-01-0&%24.cid=corr-0&%24.ct=application%2Fjson"
    "&%24.ce=utf-8&seq=0&scenario=b&tricky%20key=a%20b%26c%3Dd%2Fe%3Ff%25g%2Bh%24";

TEST(TopicsTest, TheSdksTelemetryTopicParses) {
  auto t = MatchTelemetryTopic(kObserved);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->device_id, "dev-01");
  EXPECT_FALSE(t->module_id.has_value());
  COFFRE_ASSERT_OK_AND_ASSIGN(hub::MessageProperties p, ParsePropertyBag(t->bag));
  EXPECT_EQ(*p.system.message_id, "dev-01-0");
  EXPECT_EQ(*p.system.correlation_id, "corr-0");
  EXPECT_EQ(*p.system.content_type, "application/json");
  EXPECT_EQ(*p.system.content_encoding, "utf-8");
  ASSERT_EQ(p.application.size(), 3u);
  EXPECT_EQ(p.application[0], (std::pair<std::string, std::string>{"seq", "0"}));
  EXPECT_EQ(p.application[2].first, "tricky key");
  EXPECT_EQ(p.application[2].second, "a b&c=d/e?f%g+h$");
}

TEST(TopicsTest, ModulesOutputsAndBareTopicsMatch) {
  auto bare = MatchTelemetryTopic("devices/d/messages/events/");
  ASSERT_TRUE(bare.has_value());
  EXPECT_TRUE(bare->bag.empty());
  EXPECT_TRUE(MatchTelemetryTopic("devices/d/messages/events").has_value());
  auto module = MatchTelemetryTopic("devices/d/modules/m/messages/events/%24.on=out1/");
  ASSERT_TRUE(module.has_value());
  EXPECT_EQ(*module->module_id, "m");
  EXPECT_EQ(*ParsePropertyBag(module->bag)->system.output_name, "out1");
  for (std::string_view other :
       {"$iothub/twin/GET/?$rid=1", "devices/d/messages/devicebound/x", "devices//messages/events/",
        "devices/d/messages/eventsX", "devices/d/modules//messages/events/", "device/d/messages/events/"}) {
    EXPECT_FALSE(MatchTelemetryTopic(other).has_value()) << other;
  }
}

TEST(TopicsTest, BagAcceptsUnescapedSystemNamesNullValuesAndPlus) {
  COFFRE_ASSERT_OK_AND_ASSIGN(hub::MessageProperties p,
                              ParsePropertyBag("$.mid=m1&flag&empty=&a+b=c+d&dt-subject=comp&$.x=y"));
  EXPECT_EQ(*p.system.message_id, "m1");
  EXPECT_EQ(*p.system.subject, "comp");
  ASSERT_EQ(p.application.size(), 4u);
  EXPECT_EQ(p.application[0], (std::pair<std::string, std::string>{"flag", ""}));
  EXPECT_EQ(p.application[1], (std::pair<std::string, std::string>{"empty", ""}));
  EXPECT_EQ(p.application[2], (std::pair<std::string, std::string>{"a+b", "c+d"}));
  EXPECT_EQ(p.application[3], (std::pair<std::string, std::string>{"$.x", "y"}));
}

TEST(TopicsTest, BagRulesAreEnforced) {
  EXPECT_THAT(ParsePropertyBag("=v").status(), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParsePropertyBag(std::string(1025, 'n') + "=v").status(),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParsePropertyBag("a=%C3%28").status(), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParsePropertyBag("a=%00").status(), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParsePropertyBag("%24.mid=" + std::string(129, 'x')).status(),
              StatusIs(StatusCode::kInvalidArgument));
  std::string many;
  for (int i = 0; i < 257; ++i) many += "p" + std::to_string(i) + "=1&";
  EXPECT_THAT(ParsePropertyBag(many).status(), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_TRUE(ParsePropertyBag("&&a=1&&").has_value());
}

TEST(TopicsTest, CloudToDeviceBagHasNoRawSlashAndRoundTrips) {
  hub::MessageProperties p;
  p.system.message_id = "m 1";
  p.system.to = "/devices/d/messages/devicebound";
  p.application = {{"k", ""}, {"a/b", "c&d=e"}};
  std::string bag = FormatPropertyBag(p);
  EXPECT_EQ(bag.find('/'), std::string::npos) << bag;
  EXPECT_NE(bag.find("k=&"), std::string::npos) << bag;
  COFFRE_ASSERT_OK_AND_ASSIGN(hub::MessageProperties back, ParsePropertyBag(bag));
  EXPECT_EQ(*back.system.message_id, "m 1");
  EXPECT_EQ(*back.system.to, "/devices/d/messages/devicebound");
  EXPECT_EQ(back.application, p.application);
}

TEST(MessageTest, SizeCountsBodySystemValuesAndApplicationNamesAndValues) {
  hub::MessageProperties p;
  p.system.message_id = "12345";
  p.application = {{"ab", "cde"}};
  EXPECT_EQ(hub::AccountedMessageSize(100, p), 110u);
  COFFRE_EXPECT_OK(hub::CheckMessageSize(hub::kMaxMessageBytes - 10, p));
  EXPECT_THAT(hub::CheckMessageSize(hub::kMaxMessageBytes - 9, p),
              StatusIs(StatusCode::kResourceExhausted));
}

}  // namespace
}  // namespace coffre::mqtt
