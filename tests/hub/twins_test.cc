#include "hub/twins.h"

#include <gtest/gtest.h>

#include "fakes/fake_key_provider.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"

namespace coffre::hub {
namespace {

using nlohmann::json;
using testing::FakeKeyProvider;
using testing::StatusIs;
using testing::StatusWithDetail;

class TwinsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kv_ = std::move(storage::RocksKvStore::Open(dir_.path() / "meta").value());
    keys_ = std::move(HubKeys::Open(*kv_, provider_).value());
    registry_ = std::make_unique<Registry>(*kv_, *keys_, clock_);
    rows_ = std::make_unique<SealedRows>(*kv_, *keys_);
    store_ = std::make_unique<TwinStore>(*rows_, clock_);
    twins_ = std::make_unique<Twins>(*registry_, *store_, clock_);
    twins_->SetDesiredListener([this](const TwinId& id, const json& patch, int64_t version) {
      told_.push_back({{"device", id.device_id}, {"module", id.module_id.value_or("")},
                       {"patch", patch}, {"version", version}});
    });
    DeviceIdentity d;
    d.device_id = "d1";
    ASSERT_TRUE(registry_->Create(d).has_value());
    ModuleIdentity m;
    m.device_id = "d1";
    m.module_id = "m1";
    ASSERT_TRUE(registry_->CreateModule(m).has_value());
  }

  testing::TempDir dir_;
  FakeKeyProvider provider_;
  ManualClock clock_;
  std::unique_ptr<storage::RocksKvStore> kv_;
  std::unique_ptr<HubKeys> keys_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<SealedRows> rows_;
  std::unique_ptr<TwinStore> store_;
  std::unique_ptr<Twins> twins_;
  std::vector<json> told_;
};

const TwinId kDevice{"d1", std::nullopt};
const TwinId kModule{"d1", "m1"};

TEST_F(TwinsTest, TheServiceViewHasTheIdentityFieldsAndTheSdksRequiredOnes) {
  COFFRE_ASSERT_OK_AND_ASSIGN(json t, twins_->Get(kDevice));
  EXPECT_EQ(t["deviceId"], "d1");
  EXPECT_EQ(t["etag"], "AAAAAAAAAAE=");
  EXPECT_EQ(t["status"], "enabled");
  EXPECT_EQ(t["connectionState"], "Disconnected");
  EXPECT_EQ(t["authenticationType"], "sas");
  EXPECT_EQ(t["version"], 1);
  EXPECT_EQ(t["tags"], json::object());
  EXPECT_EQ(t["properties"]["desired"]["$version"], 1);
  EXPECT_TRUE(t["properties"]["reported"]["$metadata"].contains("$lastUpdated"));
  COFFRE_ASSERT_OK_AND_ASSIGN(json m, twins_->Get(kModule));
  EXPECT_EQ(m["moduleId"], "m1");
}

TEST_F(TwinsTest, AServicePatchMergesTagsAndDesiredAndTellsTheDevice) {
  json body = json::parse(R"({"tags":{"site":"paris"},"properties":{"desired":{"interval":5}}})");
  COFFRE_ASSERT_OK_AND_ASSIGN(json t, twins_->Patch(kDevice, body, "*"));
  EXPECT_EQ(t["tags"]["site"], "paris");
  EXPECT_EQ(t["properties"]["desired"]["interval"], 5);
  EXPECT_EQ(t["properties"]["desired"]["$version"], 2);
  ASSERT_EQ(told_.size(), 1u);
  EXPECT_EQ(told_[0], json::parse(R"({"device":"d1","module":"","patch":{"interval":5},"version":2})"));
  // Tags alone tell the device nothing.
  ASSERT_TRUE(twins_->Patch(kDevice, json::parse(R"({"tags":{"floor":2}})"), "").has_value());
  EXPECT_EQ(told_.size(), 1u);
  COFFRE_ASSERT_OK_AND_ASSIGN(json device, twins_->DeviceGet(kDevice));
  EXPECT_EQ(device, json::parse(R"({"desired":{"interval":5,"$version":2},"reported":{"$version":1}})"));
}

TEST_F(TwinsTest, ReportedPropertiesComeOnlyFromTheDevice) {
  COFFRE_ASSERT_OK_AND_ASSIGN(int64_t v, twins_->Report(kDevice, json{{"fw", "1.0"}}));
  EXPECT_EQ(v, 2);
  EXPECT_EQ(twins_->Get(kDevice).value()["properties"]["reported"]["fw"], "1.0");
  EXPECT_THAT(twins_->Patch(kDevice, json::parse(R"({"properties":{"reported":{"fw":"x"}}})"), "*")
                  .status(),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(twins_->Patch(kDevice, json::parse(R"({"tags":[1]})"), "*").status(),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(twins_->Patch(kDevice, json::parse(R"("text")"), "*").status(),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST_F(TwinsTest, AStaleEtagIsRefusedAndChangesNothing) {
  COFFRE_ASSERT_OK_AND_ASSIGN(json t, twins_->Get(kDevice));
  ASSERT_TRUE(twins_->Patch(kDevice, json::parse(R"({"tags":{"a":1}})"), "\"" + t["etag"].get<std::string>() + "\"").has_value());
  EXPECT_THAT(twins_->Patch(kDevice, json::parse(R"({"tags":{"a":2}})"), "\"" + t["etag"].get<std::string>() + "\"").status(),
              StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_EQ(twins_->Get(kDevice).value()["tags"]["a"], 1);
}

TEST_F(TwinsTest, AReplaceSwapsTagsAndDesiredAndTellsTheWholeDesiredDocument) {
  ASSERT_TRUE(twins_->Patch(kModule, json::parse(R"({"tags":{"old":1},"properties":{"desired":{"old":1}}})"), "*").has_value());
  COFFRE_ASSERT_OK_AND_ASSIGN(json t, twins_->Replace(kModule, json::parse(R"({"tags":{"new":1},"properties":{"desired":{"new":2}}})"), "*"));
  EXPECT_EQ(t["tags"], json::parse(R"({"new":1})"));
  EXPECT_FALSE(t["properties"]["desired"].contains("old"));
  ASSERT_EQ(told_.size(), 2u);
  EXPECT_EQ(told_[1]["patch"], json::parse(R"({"new":2})"));
  EXPECT_EQ(told_[1]["module"], "m1");
}

TEST_F(TwinsTest, UnknownIdentitiesAreNotFoundWithAzuresCodes) {
  EXPECT_THAT(twins_->Get(TwinId{"nope", std::nullopt}).status(), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(twins_->Get(TwinId{"d1", "nope"}).status(),
              StatusWithDetail(StatusCode::kNotFound, "ModuleNotFound"));
  EXPECT_THAT(twins_->Report(TwinId{"nope", std::nullopt}, json::object()).status(),
              StatusIs(StatusCode::kNotFound));
}

TEST_F(TwinsTest, ADisabledDeviceCanNeitherReadNorReportButTheServiceStillReads) {
  ASSERT_TRUE(twins_->Report(kDevice, json{{"fw", "1.0"}}).has_value());
  DeviceIdentity d = registry_->Get("d1").value();
  d.status = DeviceStatus::kDisabled;
  ASSERT_TRUE(registry_->Update(d, "*").has_value());
  // What a session sent just before it was closed for the disable is refused, not applied.
  EXPECT_THAT(twins_->Report(kDevice, json{{"fw", "2.0"}}).status(),
              StatusIs(StatusCode::kUnauthenticated));
  EXPECT_THAT(twins_->Report(kModule, json{{"fw", "2.0"}}).status(),
              StatusIs(StatusCode::kUnauthenticated));
  EXPECT_THAT(twins_->DeviceGet(kDevice).status(), StatusIs(StatusCode::kUnauthenticated));
  COFFRE_ASSERT_OK_AND_ASSIGN(json t, twins_->Get(kDevice));
  EXPECT_EQ(t["properties"]["reported"]["fw"], "1.0");
  EXPECT_EQ(t["status"], "disabled");
  ASSERT_TRUE(twins_->Patch(kDevice, json::parse(R"({"tags":{"a":1}})"), "*").has_value());
  d = registry_->Get("d1").value();
  d.status = DeviceStatus::kEnabled;
  ASSERT_TRUE(registry_->Update(d, "*").has_value());
  EXPECT_TRUE(twins_->Report(kDevice, json{{"fw", "2.0"}}).has_value());
}

TEST_F(TwinsTest, ADeletedAndRecreatedDeviceHasAFreshTwin) {
  ASSERT_TRUE(twins_->Report(kDevice, json{{"secret", "old"}}).has_value());
  ASSERT_TRUE(registry_->Delete("d1", "*").ok());
  DeviceIdentity d;
  d.device_id = "d1";
  ASSERT_TRUE(registry_->Create(d).has_value());
  EXPECT_EQ(twins_->DeviceGet(kDevice).value()["reported"], json::parse(R"({"$version":1})"));
}

}  // namespace
}  // namespace coffre::hub
