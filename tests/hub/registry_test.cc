#include "hub/registry.h"

#include <gtest/gtest.h>

#include "common/clock.h"
#include "fakes/fake_key_provider.h"
#include "file_scan.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"

namespace coffre::hub {
namespace {

using testing::FakeKeyProvider;
using testing::FilesContaining;
using testing::StatusIs;

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    registry_.reset();
    keys_.reset();
    kv_.reset();
    kv_ = std::move(storage::RocksKvStore::Open(dir_.path() / "meta").value());
    auto keys = HubKeys::Open(*kv_, provider_);
    ASSERT_TRUE(keys.has_value()) << keys.status();
    keys_ = std::move(*keys);
    registry_ = std::make_unique<Registry>(*kv_, *keys_, clock_);
  }
  DeviceIdentity Device(const std::string& id) {
    DeviceIdentity d;
    d.device_id = id;
    return d;
  }

  testing::TempDir dir_;
  FakeKeyProvider provider_;
  ManualClock clock_;  // 1,800,000,000 s since the epoch
  std::unique_ptr<storage::RocksKvStore> kv_;
  std::unique_ptr<HubKeys> keys_;
  std::unique_ptr<Registry> registry_;
};

TEST_F(RegistryTest, CreateGeneratesKeysAndGetReturnsTheDevice) {
  COFFRE_ASSERT_OK_AND_ASSIGN(DeviceIdentity d, registry_->Create(Device("dev-01")));
  EXPECT_EQ(d.primary_key.size(), 44u);
  EXPECT_EQ(d.secondary_key.size(), 44u);
  EXPECT_NE(d.primary_key, d.secondary_key);
  EXPECT_FALSE(d.etag.empty());
  EXPECT_FALSE(d.generation_id.empty());
  EXPECT_EQ(d.status, DeviceStatus::kEnabled);
  COFFRE_ASSERT_OK_AND_ASSIGN(DeviceIdentity got, registry_->Get("dev-01"));
  EXPECT_EQ(got.primary_key, d.primary_key);
  EXPECT_EQ(got.etag, d.etag);
  EXPECT_THAT(registry_->Create(Device("dev-01")).status(), StatusIs(StatusCode::kAlreadyExists));
  EXPECT_THAT(registry_->Get("nope").status(), StatusIs(StatusCode::kNotFound, ::testing::HasSubstr("nope")));
}

TEST_F(RegistryTest, GivenKeysAndIdsAreValidated) {
  DeviceIdentity d = Device("dev-02");
  d.primary_key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
  d.secondary_key = "not base64!";
  EXPECT_THAT(registry_->Create(d).status(), StatusIs(StatusCode::kInvalidArgument));
  d.secondary_key = "AAECAwQFBgcICQ==";  // 10 bytes: too short
  EXPECT_THAT(registry_->Create(d).status(), StatusIs(StatusCode::kInvalidArgument));
  d.secondary_key = d.primary_key;
  COFFRE_EXPECT_OK(registry_->Create(d).status());
  EXPECT_EQ(registry_->Get("dev-02")->primary_key, d.primary_key);
  for (const std::string& bad : std::vector<std::string>{"", std::string(129, 'a'), "a/b", "a#b", "a+b", "dev 1", "d\xc3\xa9"}) {
    EXPECT_FALSE(ValidDeviceId(bad)) << bad;
    EXPECT_THAT(registry_->Create(Device(bad)).status(), StatusIs(StatusCode::kInvalidArgument));
  }
  EXPECT_TRUE(ValidDeviceId("dev-(1)*?!,:=@$'%._"));
  DeviceIdentity x509 = Device("cam-1");
  x509.auth_type = AuthType::kSelfSigned;
  x509.primary_thumbprint = "zz";
  EXPECT_THAT(registry_->Create(x509).status(), StatusIs(StatusCode::kInvalidArgument));
  x509.primary_thumbprint = std::string(40, 'A');
  COFFRE_EXPECT_OK(registry_->Create(x509).status());
}

TEST_F(RegistryTest, UpdateAndDeleteFollowEtags) {
  COFFRE_ASSERT_OK_AND_ASSIGN(DeviceIdentity d, registry_->Create(Device("dev-03")));
  DeviceIdentity change = d;
  change.status = DeviceStatus::kDisabled;
  change.status_reason = "maintenance";
  EXPECT_THAT(registry_->Update(change, "\"stale\"").status(), StatusIs(StatusCode::kFailedPrecondition));
  COFFRE_ASSERT_OK_AND_ASSIGN(DeviceIdentity updated, registry_->Update(change, "\"" + d.etag + "\""));
  EXPECT_NE(updated.etag, d.etag);
  EXPECT_EQ(updated.generation_id, d.generation_id);
  EXPECT_EQ(registry_->Get("dev-03")->status, DeviceStatus::kDisabled);
  COFFRE_ASSERT_OK(registry_->Update(updated, "*").status());
  EXPECT_THAT(registry_->Update(Device("ghost"), "*").status(), StatusIs(StatusCode::kNotFound));

  EXPECT_THAT(registry_->Delete("dev-03", d.etag), StatusIs(StatusCode::kFailedPrecondition));
  COFFRE_ASSERT_OK(registry_->Delete("dev-03", "*"));
  EXPECT_THAT(registry_->Get("dev-03").status(), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(registry_->Delete("dev-03", "*"), StatusIs(StatusCode::kNotFound));
  clock_.Advance(std::chrono::seconds(1));
  COFFRE_ASSERT_OK_AND_ASSIGN(DeviceIdentity again, registry_->Create(Device("dev-03")));
  EXPECT_NE(again.generation_id, d.generation_id);
}

TEST_F(RegistryTest, ConnectionStateChangesWithoutTouchingTheEtag) {
  COFFRE_ASSERT_OK_AND_ASSIGN(DeviceIdentity d, registry_->Create(Device("dev-04")));
  clock_.Advance(std::chrono::seconds(5));
  COFFRE_ASSERT_OK(registry_->SetConnected("dev-04", true));
  DeviceIdentity got = *registry_->Get("dev-04");
  EXPECT_TRUE(got.connected);
  EXPECT_EQ(got.etag, d.etag);
  EXPECT_EQ(got.connection_state_updated_ms, clock_.NowMillis());
}

TEST_F(RegistryTest, ListPagesThroughEveryDeviceOnce) {
  for (int i = 0; i < 23; ++i) COFFRE_ASSERT_OK(registry_->Create(Device("d" + std::to_string(i))).status());
  std::set<std::string> seen;
  std::string continuation;
  int pages = 0;
  do {
    COFFRE_ASSERT_OK_AND_ASSIGN(DevicePage page, registry_->List(5, continuation));
    EXPECT_LE(page.devices.size(), 5u);
    for (const auto& d : page.devices) EXPECT_TRUE(seen.insert(d.device_id).second) << d.device_id;
    continuation = page.continuation;
    ++pages;
  } while (!continuation.empty() && pages < 10);
  EXPECT_EQ(seen.size(), 23u);
  EXPECT_EQ(pages, 5);
}

TEST_F(RegistryTest, IdentitiesSurviveRestartsThroughTheCustomerKey) {
  COFFRE_ASSERT_OK_AND_ASSIGN(DeviceIdentity d, registry_->Create(Device("dev-05")));
  Open();
  EXPECT_EQ(registry_->Get("dev-05")->primary_key, d.primary_key);
}

TEST_F(RegistryTest, TheStoreRevealsNeitherDeviceNamesNorKeys) {
  COFFRE_ASSERT_OK_AND_ASSIGN(DeviceIdentity d, registry_->Create(Device("very-recognisable-device")));
  COFFRE_ASSERT_OK(kv_->DestroyDeletedData());  // into table files as well as the log
  EXPECT_THAT(FilesContaining(dir_.path(), AsBytes("very-recognisable-device")), ::testing::IsEmpty());
  EXPECT_THAT(FilesContaining(dir_.path(), AsBytes(d.primary_key)), ::testing::IsEmpty());
  EXPECT_THAT(FilesContaining(dir_.path(), *Base64Decode(d.primary_key)), ::testing::IsEmpty());
}

TEST_F(RegistryTest, RevokedOrForeignCustomerKeysCannotOpenTheHub) {
  COFFRE_ASSERT_OK(registry_->Create(Device("dev-06")).status());
  registry_.reset();
  keys_.reset();
  provider_.set_state(crypto::KeyState::kDisabled);
  Status disabled = HubKeys::Open(*kv_, provider_).status();
  EXPECT_EQ(crypto::ClassifyKeyAccess(disabled), crypto::KeyAccess::kRevoked) << disabled;
  provider_.set_state(crypto::KeyState::kEnabled);
  FakeKeyProvider other;
  EXPECT_EQ(HubKeys::Open(*kv_, other).status(), crypto::OpenFailed());
  COFFRE_EXPECT_OK(HubKeys::Open(*kv_, provider_).status());
}

// Issue 12, finding 8: module identities under their device.
ModuleIdentity Module(const std::string& device, const std::string& id) {
  ModuleIdentity m;
  m.device_id = device;
  m.module_id = id;
  return m;
}

TEST_F(RegistryTest, ModulesAreCreatedWithKeysUnderAnExistingDeviceOnly) {
  EXPECT_THAT(registry_->CreateModule(Module("ghost", "m1")).status(),
              StatusIs(StatusCode::kNotFound, ::testing::HasSubstr("Device ghost")));
  COFFRE_ASSERT_OK_AND_ASSIGN(DeviceIdentity d, registry_->Create(Device("dev-m")));
  COFFRE_ASSERT_OK_AND_ASSIGN(ModuleIdentity m, registry_->CreateModule(Module("dev-m", "m1")));
  EXPECT_EQ(m.primary_key.size(), 44u);
  EXPECT_NE(m.primary_key, m.secondary_key);
  EXPECT_NE(m.primary_key, d.primary_key);
  EXPECT_FALSE(m.etag.empty());
  EXPECT_FALSE(m.generation_id.empty());
  EXPECT_THAT(registry_->CreateModule(Module("dev-m", "m1")).status(), StatusIs(StatusCode::kAlreadyExists));
  ModuleIdentity given = Module("dev-m", "m2");
  given.primary_key = Base64Encode(Bytes(16, std::byte{1}));
  given.secondary_key = "not base64!";
  EXPECT_THAT(registry_->CreateModule(given).status(), StatusIs(StatusCode::kInvalidArgument));
  given.secondary_key = "";
  COFFRE_ASSERT_OK_AND_ASSIGN(ModuleIdentity m2, registry_->CreateModule(given));
  EXPECT_EQ(m2.primary_key, given.primary_key);
  for (std::string bad : std::vector<std::string>{"", "a/b", "a#", "a+b", std::string(129, 'm')}) {
    EXPECT_THAT(registry_->CreateModule(Module("dev-m", bad)).status(), StatusIs(StatusCode::kInvalidArgument)) << bad;
  }
  COFFRE_ASSERT_OK_AND_ASSIGN(ModuleIdentity got, registry_->GetModule("dev-m", "m1"));
  EXPECT_EQ(got.primary_key, m.primary_key);
  EXPECT_EQ(got.etag, m.etag);
  EXPECT_THAT(registry_->GetModule("dev-m", "m3").status(),
              StatusIs(StatusCode::kNotFound, ::testing::HasSubstr("Module m3")));
  // The same module name on another device is another module.
  COFFRE_ASSERT_OK(registry_->Create(Device("dev-n")).status());
  EXPECT_THAT(registry_->GetModule("dev-n", "m1").status(), StatusIs(StatusCode::kNotFound));
  COFFRE_ASSERT_OK_AND_ASSIGN(std::vector<ModuleIdentity> listed, registry_->ListModules("dev-m"));
  EXPECT_EQ(listed.size(), 2u);
  EXPECT_TRUE(registry_->ListModules("dev-n")->empty());
  EXPECT_THAT(registry_->ListModules("ghost").status(), StatusIs(StatusCode::kNotFound));
}

TEST_F(RegistryTest, ModuleUpdatesAndDeletesFollowEtagsAndDeviceDeletionTakesItsModules) {
  COFFRE_ASSERT_OK(registry_->Create(Device("dev-m")).status());
  COFFRE_ASSERT_OK_AND_ASSIGN(ModuleIdentity m, registry_->CreateModule(Module("dev-m", "m1")));
  ModuleIdentity change = Module("dev-m", "m1");
  change.managed_by = "edge";
  change.secondary_key = Base64Encode(Bytes(32, std::byte{2}));
  EXPECT_THAT(registry_->UpdateModule(change, "\"stale\"").status(), StatusIs(StatusCode::kFailedPrecondition));
  COFFRE_ASSERT_OK_AND_ASSIGN(ModuleIdentity updated, registry_->UpdateModule(change, "\"" + m.etag + "\""));
  EXPECT_NE(updated.etag, m.etag);
  EXPECT_EQ(updated.primary_key, m.primary_key);  // left empty: kept
  EXPECT_EQ(updated.secondary_key, change.secondary_key);
  EXPECT_EQ(updated.generation_id, m.generation_id);
  EXPECT_EQ(registry_->GetModule("dev-m", "m1")->managed_by, "edge");
  EXPECT_THAT(registry_->UpdateModule(Module("dev-m", "ghost"), "*").status(), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(registry_->DeleteModule("dev-m", "m1", m.etag), StatusIs(StatusCode::kFailedPrecondition));
  COFFRE_ASSERT_OK(registry_->DeleteModule("dev-m", "m1", updated.etag));
  EXPECT_THAT(registry_->GetModule("dev-m", "m1").status(), StatusIs(StatusCode::kNotFound));

  COFFRE_ASSERT_OK(registry_->CreateModule(Module("dev-m", "a")).status());
  COFFRE_ASSERT_OK(registry_->CreateModule(Module("dev-m", "b")).status());
  COFFRE_ASSERT_OK(registry_->Create(Device("dev-keep")).status());
  COFFRE_ASSERT_OK(registry_->CreateModule(Module("dev-keep", "a")).status());
  COFFRE_ASSERT_OK(registry_->Delete("dev-m", "*"));
  // A device re-created with the same id does not find its predecessor's modules.
  COFFRE_ASSERT_OK(registry_->Create(Device("dev-m")).status());
  EXPECT_TRUE(registry_->ListModules("dev-m")->empty());
  EXPECT_THAT(registry_->GetModule("dev-m", "a").status(), StatusIs(StatusCode::kNotFound));
  COFFRE_EXPECT_OK(registry_->GetModule("dev-keep", "a").status());
}

TEST_F(RegistryTest, ModuleKeysAndNamesAreSealedLikeDevices) {
  COFFRE_ASSERT_OK(registry_->Create(Device("dev-m")).status());
  COFFRE_ASSERT_OK_AND_ASSIGN(ModuleIdentity m,
                              registry_->CreateModule(Module("dev-m", "very-recognisable-module")));
  COFFRE_ASSERT_OK(kv_->DestroyDeletedData());
  EXPECT_THAT(FilesContaining(dir_.path(), AsBytes("very-recognisable-module")), ::testing::IsEmpty());
  EXPECT_THAT(FilesContaining(dir_.path(), AsBytes(m.primary_key)), ::testing::IsEmpty());
  EXPECT_THAT(FilesContaining(dir_.path(), *Base64Decode(m.primary_key)), ::testing::IsEmpty());
  Open();
  EXPECT_EQ(registry_->GetModule("dev-m", "very-recognisable-module")->primary_key, m.primary_key);
}

}  // namespace
}  // namespace coffre::hub
