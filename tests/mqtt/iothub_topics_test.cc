#include "mqtt/iothub_topics.h"

#include <gtest/gtest.h>

namespace coffre::mqtt {
namespace {

using Kind = IotHubRequest::Kind;

IotHubRequest Match(std::string_view topic) {
  auto r = MatchIotHubRequest(topic);
  EXPECT_TRUE(r.has_value()) << topic << ": " << (r ? "" : r.error().message());
  EXPECT_TRUE(r.has_value() && r->has_value()) << topic;
  return r.has_value() && r->has_value() ? **r : IotHubRequest{};
}

TEST(IotHubTopicsTest, ReadsTheSdksTwinAndMethodTopics) {
  IotHubRequest get = Match("$iothub/twin/GET/?$rid=6e1c0a4e-5b6f-4f0a-9d1e-1f2a3b4c5d6e");
  EXPECT_EQ(get.kind, Kind::kTwinGet);
  EXPECT_EQ(get.rid, "6e1c0a4e-5b6f-4f0a-9d1e-1f2a3b4c5d6e");
  IotHubRequest patch = Match("$iothub/twin/PATCH/properties/reported/?$rid=42&x=1");
  EXPECT_EQ(patch.kind, Kind::kTwinReportedPatch);
  EXPECT_EQ(patch.rid, "42");
  IotHubRequest res = Match("$iothub/methods/res/200/?$rid=a1");
  EXPECT_EQ(res.kind, Kind::kMethodResponse);
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.rid, "a1");
  EXPECT_EQ(Match("$iothub/twin/GET/?%24rid=a%20b").rid, "a b");
}

TEST(IotHubTopicsTest, OtherTopicsAreNotIotHubRequests) {
  auto telemetry = MatchIotHubRequest("devices/d1/messages/events/");
  ASSERT_TRUE(telemetry.has_value());
  EXPECT_FALSE(telemetry->has_value());
}

TEST(IotHubTopicsTest, RefusesWhatADeviceMayNotPublishOrCannotBeAnswered) {
  for (const char* bad : {"$iothub/twin/res/200/?$rid=1", "$iothub/methods/POST/reboot/?$rid=1",
                          "$iothub/twin/PATCH/properties/desired/?$version=2", "$iothub/",
                          "$iothub/twin/GET/", "$iothub/twin/GET/?rid=1", "$iothub/twin/GET/?$rid=",
                          "$iothub/methods/res/abc/?$rid=1", "$iothub/methods/res/-1/?$rid=1",
                          "$iothub/methods/res/99999999999/?$rid=1", "$iothub/methods/res/200"}) {
    auto r = MatchIotHubRequest(bad);
    EXPECT_FALSE(r.has_value()) << bad;
  }
  std::string long_rid = "$iothub/twin/GET/?$rid=" + std::string(129, 'r');
  EXPECT_FALSE(MatchIotHubRequest(long_rid).has_value());
}

TEST(IotHubTopicsTest, WritesTheTopicsTheSdkMatches) {
  EXPECT_EQ(TwinResponseTopic(200, "r-1"), "$iothub/twin/res/200/?$rid=r-1");
  EXPECT_EQ(TwinResponseTopic(204, "r 2", 7), "$iothub/twin/res/204/?$rid=r%202&$version=7");
  EXPECT_EQ(DesiredPatchTopic(3), "$iothub/twin/PATCH/properties/desired/?$version=3");
  EXPECT_EQ(MethodRequestTopic("reboot", "1f"), "$iothub/methods/POST/reboot/?$rid=1f");
  EXPECT_EQ(CloudToDeviceTopic("d1", "%24.mid=m1"), "devices/d1/messages/devicebound/%24.mid=m1");
}

}  // namespace
}  // namespace coffre::mqtt
