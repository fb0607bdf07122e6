#include "hub/twin_document.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace coffre::hub {
namespace {

using nlohmann::json;
using std::chrono::seconds;

const Clock::WallTime kCreated{seconds(1'800'000'000)};
const Clock::WallTime kLater{seconds(1'800'000'060)};

TEST(TwinDocumentTest, ANewTwinHasVersionOneEverywhereAndNoProperties) {
  TwinDocument twin(kCreated);
  EXPECT_EQ(twin.DeviceView(),
            json::parse(R"({"desired":{"$version":1},"reported":{"$version":1}})"));
  EXPECT_EQ(twin.version(), 1);
  EXPECT_EQ(twin.Etag(), "AAAAAAAAAAE=");
  json desired = twin.PropertiesView(TwinSection::kDesired);
  EXPECT_EQ(desired["$metadata"]["$lastUpdated"], "2027-01-15T08:00:00.000Z");
  EXPECT_EQ(desired["$metadata"]["$lastUpdatedVersion"], 1);
}

TEST(TwinDocumentTest, AReportedPatchMergesRemovesWithNullAndBumpsVersions) {
  TwinDocument twin(kCreated);
  ASSERT_TRUE(twin.PatchProperties(TwinSection::kReported,
                                   json::parse(R"({"fw":"1.0","net":{"ip":"10.0.0.2","rssi":-60}})"),
                                   kCreated).ok());
  ASSERT_TRUE(twin.PatchProperties(TwinSection::kReported,
                                   json::parse(R"({"net":{"rssi":null,"ssid":"x"},"fw":null})"),
                                   kLater).ok());
  json view = twin.DeviceView();
  EXPECT_EQ(view["reported"], json::parse(R"({"net":{"ip":"10.0.0.2","ssid":"x"},"$version":3})"));
  EXPECT_EQ(view["desired"]["$version"], 1);
  EXPECT_EQ(twin.version(), 3);
  EXPECT_EQ(twin.Etag(), "AAAAAAAAAAM=");

  json meta = twin.PropertiesView(TwinSection::kReported)["$metadata"];
  EXPECT_EQ(meta["$lastUpdated"], "2027-01-15T08:01:00.000Z");
  EXPECT_EQ(meta["net"]["ip"]["$lastUpdated"], "2027-01-15T08:00:00.000Z");  // untouched
  EXPECT_EQ(meta["net"]["ssid"]["$lastUpdated"], "2027-01-15T08:01:00.000Z");
  EXPECT_FALSE(meta.contains("fw"));
  EXPECT_FALSE(meta["net"].contains("rssi"));
  EXPECT_FALSE(meta.contains("$lastUpdatedVersion"));  // only desired carries it
}

TEST(TwinDocumentTest, DesiredMetadataRecordsTheVersionOfEachChange) {
  TwinDocument twin(kCreated);
  ASSERT_TRUE(twin.PatchProperties(TwinSection::kDesired, json{{"interval", 5}}, kCreated).ok());
  ASSERT_TRUE(twin.PatchProperties(TwinSection::kDesired, json{{"mode", "eco"}}, kLater).ok());
  json meta = twin.PropertiesView(TwinSection::kDesired)["$metadata"];
  EXPECT_EQ(meta["interval"]["$lastUpdatedVersion"], 2);
  EXPECT_EQ(meta["mode"]["$lastUpdatedVersion"], 3);
  EXPECT_EQ(meta["$lastUpdatedVersion"], 3);
}

TEST(TwinDocumentTest, ReplacingAPrimitiveWithAnObjectDropsNullsInside) {
  TwinDocument twin(kCreated);
  ASSERT_TRUE(twin.PatchProperties(TwinSection::kDesired, json{{"a", 1}}, kCreated).ok());
  ASSERT_TRUE(twin.PatchProperties(TwinSection::kDesired, json::parse(R"({"a":{"b":null,"c":2}})"),
                                   kLater).ok());
  EXPECT_EQ(twin.DeviceView()["desired"]["a"], json::parse(R"({"c":2})"));
}

TEST(TwinDocumentTest, TagsMergeAndTheirChangesBumpOnlyTheTwinVersion) {
  TwinDocument twin(kCreated);
  ASSERT_TRUE(twin.PatchTags(json::parse(R"({"site":{"building":"B1","floor":3}})")).ok());
  ASSERT_TRUE(twin.PatchTags(json::parse(R"({"site":{"floor":null},"owner":"ops"})")).ok());
  EXPECT_EQ(twin.tags(), json::parse(R"({"site":{"building":"B1"},"owner":"ops"})"));
  EXPECT_EQ(twin.version(), 3);
  EXPECT_EQ(twin.SectionVersion(TwinSection::kDesired), 1);
  EXPECT_FALSE(twin.DeviceView().dump().find("B1") != std::string::npos);  // devices never see tags
}

TEST(TwinDocumentTest, ReplaceSwapsTagsAndDesiredButKeepsReported) {
  TwinDocument twin(kCreated);
  ASSERT_TRUE(twin.PatchTags(json{{"old", 1}}).ok());
  ASSERT_TRUE(twin.PatchProperties(TwinSection::kDesired, json{{"old", 1}}, kCreated).ok());
  ASSERT_TRUE(twin.PatchProperties(TwinSection::kReported, json{{"fw", "1"}}, kCreated).ok());
  ASSERT_TRUE(twin.Replace(json{{"new", 2}}, json{{"new", 2}}, kLater).ok());
  EXPECT_EQ(twin.tags(), json({{"new", 2}}));
  EXPECT_EQ(twin.DeviceView(),
            json::parse(R"({"desired":{"new":2,"$version":3},"reported":{"fw":"1","$version":2}})"));
}

TEST(TwinDocumentTest, RefusesBadKeysAndValuesAndChangesNothing) {
  TwinDocument twin(kCreated);
  std::string long_key(1025, 'k');
  std::string long_string(4097, 's');
  json deep = 1;
  for (int i = 0; i < 11; ++i) deep = json{{"d", deep}};
  for (const json& bad : {json::parse(R"({"a.b":1})"), json::parse(R"({"$version":5})"),
                          json::parse(R"({"a b":1})"), json{{"tab\there", 1}}, json{{"", 1}},
                          json{{long_key, 1}}, json{{"s", long_string}}, deep,
                          json::parse(R"({"arr":[1,null]})"), json::parse(R"([1,2])"),
                          json("text"), json(nullptr), json{{"ok", {{"in.ner", 1}}}}}) {
    Status s = twin.PatchProperties(TwinSection::kReported, bad, kLater);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad.dump().substr(0, 80);
    EXPECT_EQ(twin.PatchTags(bad).code(), StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(twin.version(), 1);
  EXPECT_EQ(twin.DeviceView()["reported"], json({{"$version", 1}}));
}

TEST(TwinDocumentTest, TenLevelsOfNestingAreAllowed) {
  TwinDocument twin(kCreated);
  json deep = 1;
  for (int i = 0; i < 9; ++i) deep = json{{"d", deep}};
  EXPECT_TRUE(twin.PatchProperties(TwinSection::kDesired, json{{"top", deep}}, kLater).ok());
}

TEST(TwinDocumentTest, SizeLimitsCountTheResultNotThePatch) {
  TwinDocument twin(kCreated);
  std::string chunk(4000, 'x');
  for (int i = 0; i < 8; ++i) {  // 8 x (2 + 4000) = 32016 bytes: fits 32768
    ASSERT_TRUE(twin.PatchProperties(TwinSection::kReported, json{{"p" + std::to_string(i), chunk}},
                                     kLater).ok());
  }
  Status over = twin.PatchProperties(TwinSection::kReported, json{{"p8", chunk}}, kLater);
  EXPECT_EQ(over.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(over.message().find("over the limit of 32768"), std::string::npos);
  // Removing one makes room again.
  EXPECT_TRUE(twin.PatchProperties(TwinSection::kReported,
                                   json{{"p0", nullptr}, {"p8", chunk}}, kLater).ok());
  // Tags: 8 KB.
  EXPECT_TRUE(twin.PatchTags(json{{"a", chunk}, {"b", chunk}}).ok());
  EXPECT_EQ(twin.PatchTags(json{{"c", std::string(200, 'c')}}).code(),
            StatusCode::kInvalidArgument);
}

TEST(TwinDocumentTest, TheStoredFormRoundTripsAndForeignRecordsAreDataLoss) {
  TwinDocument twin(kCreated);
  ASSERT_TRUE(twin.PatchTags(json{{"site", "B1"}}).ok());
  ASSERT_TRUE(twin.PatchProperties(TwinSection::kDesired, json{{"interval", 5}}, kLater).ok());
  auto back = TwinDocument::FromStored(twin.ToStored());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->ToStored(), twin.ToStored());
  EXPECT_EQ(back->Etag(), twin.Etag());
  for (const char* bad : {R"(null)", R"([])", R"({"format":2})",
                          R"({"format":1,"version":"1","tags":{},"desired":{},"reported":{}})",
                          R"({"format":1,"version":1,"tags":[],"desired":{},"reported":{}})",
                          R"({"format":1,"version":1,"tags":{},"desired":{"values":{},"metadata":{},"version":0},"reported":{}})"}) {
    auto r = TwinDocument::FromStored(json::parse(bad));
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code(), StatusCode::kDataLoss);
  }
}

}  // namespace
}  // namespace coffre::hub
