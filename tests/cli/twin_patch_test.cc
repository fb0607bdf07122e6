#include <gtest/gtest.h>

#include "cli/hub_twin_commands.h"

namespace coffre::cli {
namespace {

using nlohmann::json;

TEST(TwinPatchFromTest, SetOptionsBuildAMergePatchOverTheFile) {
  auto patch = TwinPatchFrom({"tags.site=paris", "properties.desired.interval=5",
                              "properties.desired.mode={\"eco\":true}", "tags.gone=null"},
                             json::parse(R"({"tags":{"owner":"ops"}})"));
  ASSERT_TRUE(patch.has_value()) << patch.error();
  EXPECT_EQ(*patch, json::parse(R"({"tags":{"owner":"ops","site":"paris","gone":null},
                                    "properties":{"desired":{"interval":5,"mode":{"eco":true}}}})"));
}

TEST(TwinPatchFromTest, RefusesWhatTheServiceMayNotSet) {
  for (const char* bad : {"tags.site", "=x", "properties.reported.fw=1", "deviceId=x", "tags=1",
                          "tags..a=1", "tags.a.=1", "properties.desired=1"}) {
    EXPECT_FALSE(TwinPatchFrom({bad}, std::nullopt).has_value()) << bad;
  }
  EXPECT_FALSE(TwinPatchFrom({}, std::nullopt).has_value());
}

}  // namespace
}  // namespace coffre::cli
