#include "hub/twin_store.h"

#include <gtest/gtest.h>

#include "fakes/fake_key_provider.h"
#include "file_scan.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"

namespace coffre::hub {
namespace {

using nlohmann::json;
using testing::FakeKeyProvider;
using testing::StatusIs;

class TwinStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    store_.reset();
    rows_.reset();
    keys_.reset();
    kv_.reset();
    kv_ = std::move(storage::RocksKvStore::Open(dir_.path() / "meta").value());
    keys_ = std::move(HubKeys::Open(*kv_, provider_).value());
    rows_ = std::make_unique<SealedRows>(*kv_, *keys_);
    store_ = std::make_unique<TwinStore>(*rows_, clock_);
  }
  Result<TwinDocument> Report(const TwinId& id, const json& patch, const std::string& gen = "g1") {
    return store_->Update(id, gen, "", [&](TwinDocument& t) {
      return t.PatchProperties(TwinSection::kReported, patch, clock_.Now());
    });
  }

  testing::TempDir dir_;
  FakeKeyProvider provider_;
  ManualClock clock_;
  std::unique_ptr<storage::RocksKvStore> kv_;
  std::unique_ptr<HubKeys> keys_;
  std::unique_ptr<SealedRows> rows_;
  std::unique_ptr<TwinStore> store_;
};

const TwinId kDevice{"d1", std::nullopt};
const TwinId kModule{"d1", "m1"};

TEST_F(TwinStoreTest, AnIdentityWithoutAStoredTwinHasAFreshOne) {
  COFFRE_ASSERT_OK_AND_ASSIGN(TwinDocument t, store_->Get(kDevice, "g1"));
  EXPECT_EQ(t.version(), 1);
}

TEST_F(TwinStoreTest, UpdatesAreDurableAndDeviceAndModuleTwinsAreSeparate) {
  ASSERT_TRUE(Report(kDevice, {{"fw", "1.0"}}).has_value());
  ASSERT_TRUE(Report(kModule, {{"mode", "a"}}).has_value());
  Open();
  COFFRE_ASSERT_OK_AND_ASSIGN(TwinDocument device, store_->Get(kDevice, "g1"));
  COFFRE_ASSERT_OK_AND_ASSIGN(TwinDocument module, store_->Get(kModule, "g1"));
  EXPECT_EQ(device.DeviceView()["reported"], json::parse(R"({"fw":"1.0","$version":2})"));
  EXPECT_EQ(module.DeviceView()["reported"], json::parse(R"({"mode":"a","$version":2})"));
}

TEST_F(TwinStoreTest, IfMatchMustNameTheCurrentEtag) {
  COFFRE_ASSERT_OK_AND_ASSIGN(TwinDocument t, Report(kDevice, {{"a", 1}}));
  auto tag = [](TwinDocument& d) { return d.PatchTags(json{{"site", "x"}}); };
  EXPECT_THAT(store_->Update(kDevice, "g1", "\"AAAAAAAAAAE=\"", tag).status(),
              StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_TRUE(store_->Update(kDevice, "g1", "\"" + t.Etag() + "\"", tag).has_value());
  EXPECT_TRUE(store_->Update(kDevice, "g1", "*", tag).has_value());
}

TEST_F(TwinStoreTest, AFailedChangeStoresNothing) {
  ASSERT_TRUE(Report(kDevice, {{"a", 1}}).has_value());
  EXPECT_THAT(Report(kDevice, {{"bad.key", 2}}).status(), StatusIs(StatusCode::kInvalidArgument));
  COFFRE_ASSERT_OK_AND_ASSIGN(TwinDocument t, store_->Get(kDevice, "g1"));
  EXPECT_EQ(t.version(), 2);
}

TEST_F(TwinStoreTest, ADeviceCreatedAgainStartsWithAFreshTwin) {
  ASSERT_TRUE(Report(kDevice, {{"secret", "old"}}).has_value());
  COFFRE_ASSERT_OK_AND_ASSIGN(TwinDocument t, store_->Get(kDevice, "g2"));
  EXPECT_EQ(t.DeviceView()["reported"], json::parse(R"({"$version":1})"));
}

TEST_F(TwinStoreTest, ErasingADeviceErasesItsModulesTwins) {
  ASSERT_TRUE(Report(kDevice, {{"a", 1}}).has_value());
  ASSERT_TRUE(Report(kModule, {{"b", 2}}).has_value());
  ASSERT_TRUE(Report(TwinId{"d2", std::nullopt}, {{"c", 3}}).has_value());
  ASSERT_TRUE(store_->Erase(kDevice).ok());
  EXPECT_EQ(store_->Get(kDevice, "g1")->version(), 1);
  EXPECT_EQ(store_->Get(kModule, "g1")->version(), 1);
  EXPECT_EQ(store_->Get(TwinId{"d2", std::nullopt}, "g1")->version(), 2);  // others untouched
}

TEST_F(TwinStoreTest, NoTwinValueOrTagIsStoredInPlaintext) {
  ASSERT_TRUE(Report(kDevice, {{"reported-marker-9", "value-marker-9"}}).has_value());
  ASSERT_TRUE(store_->Update(kDevice, "g1", "", [](TwinDocument& d) {
                return d.PatchTags(json{{"tag-marker-9", "x"}});
              }).has_value());
  kv_.reset();
  for (std::string_view marker : {"reported-marker-9", "value-marker-9", "tag-marker-9"}) {
    EXPECT_TRUE(testing::FilesContaining(dir_.path(), AsBytes(marker)).empty()) << marker;
  }
}

}  // namespace
}  // namespace coffre::hub
