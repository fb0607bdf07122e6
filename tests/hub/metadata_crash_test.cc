// Power loss under the metadata store (tests/fakes/crash_file_system.h): one thread creates,
// disables, enables and deletes devices, patches twins and erases devices, while the power is
// cut at a random moment or at a random sync (so the cut lands inside a write, between a row and
// its fsync, between an erasure's record and its key's destruction). After each loss the store
// reopens: every change that was acknowledged is there, one that was cut short is there or not
// (never half), an erasure's key is gone, and the metadata digests agree with the rows: a power
// loss never looks like tampering.
#include <rocksdb/env.h>

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <optional>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "fakes/crash_file_system.h"
#include "fakes/fake_key_provider.h"
#include "hub/device_keys.h"
#include "hub/registry.h"
#include "hub/twin_store.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"

namespace coffre::hub {
namespace {

constexpr int kPowerLosses = 25;
constexpr int kDevices = 12;
constexpr uint64_t kSeed = 20261207;

// What the test knows of one device: what the last acknowledged change left, or nullopt where a
// change was cut short (then either state is right, and the next check learns which).
struct Expected {
  std::optional<bool> exists = false;
  std::optional<bool> enabled = true;
  std::optional<int> tag = -1;  // the twin's tags.v; -1: no twin
  std::optional<uint64_t> erased_key;  // an acknowledged erasure destroyed this key
};

class MetadataCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    service_key_ = std::move(crypto::SecretBytes::Random(32).value());
    files_ = std::make_shared<testing::CrashFileSystem>(rocksdb::FileSystem::Default());
    env_ = rocksdb::NewCompositeEnv(files_);
  }
  void Open() {
    Close();
    kv_ = std::move(storage::RocksKvStore::Open(dir_.path() / "meta", {env_.get(), &service_key_}).value());
    keys_ = std::move(HubKeys::Open(*kv_, provider_).value());
    registry_ = std::make_unique<Registry>(*kv_, *keys_, clock_);
    rows_ = std::make_unique<SealedRows>(*kv_, *keys_);
    twins_ = std::make_unique<TwinStore>(*rows_, clock_);
    device_keys_ = std::make_unique<DeviceKeys>(*keys_, *rows_, clock_,
                                                [this] { return kv_->DestroyDeletedData(); });
  }
  void Close() {
    device_keys_.reset();
    twins_.reset();
    rows_.reset();
    registry_.reset();
    keys_.reset();
    kv_.reset();
  }
  static std::string Id(int d) { return "dev-" + std::to_string(d); }

  // One random change of device d; updates `e` as far as the change was acknowledged.
  void Change(int d, Expected& e, std::mt19937_64& rng) {
    int what = static_cast<int>(rng() % 5);
    if (e.exists != true) what = 0;  // uncertain or absent: create (ALREADY_EXISTS is fine)
    switch (what) {
      case 0: {
        DeviceIdentity device;
        device.device_id = Id(d);
        Result<DeviceIdentity> r = registry_->Create(device);
        if (r.has_value()) {
          e.exists = true;
          e.enabled = true;
        } else if (r.error().code() == StatusCode::kAlreadyExists) {
          e.exists = true;
        } else {
          e.exists = std::nullopt;
          e.enabled = std::nullopt;
        }
        return;
      }
      case 1: {
        Result<DeviceIdentity> got = registry_->Get(Id(d));
        if (!got.has_value()) return;
        got->status = got->status == DeviceStatus::kEnabled ? DeviceStatus::kDisabled
                                                            : DeviceStatus::kEnabled;
        bool enabled = got->status == DeviceStatus::kEnabled;
        e.enabled = registry_->Update(*got, "*").has_value() ? std::optional<bool>(enabled)
                                                             : std::nullopt;
        return;
      }
      case 2: {
        e.exists = registry_->Delete(Id(d), "*").ok() ? std::optional<bool>(false) : std::nullopt;
        e.enabled = std::nullopt;
        return;
      }
      case 3: {
        int v = static_cast<int>(rng() % 1000);
        auto r = twins_->Update({Id(d), std::nullopt}, "g", "*", [v](TwinDocument& t) {
          return t.PatchTags(nlohmann::json{{"v", v}});
        });
        e.tag = r.has_value() ? std::optional<int>(v) : std::nullopt;
        return;
      }
      default: {
        auto key = device_keys_->For(Id(d));  // a key to destroy
        if (!key.has_value()) return;
        uint64_t number = (*key)->number;
        key->reset();
        if (device_keys_->Erase(Id(d), "test").has_value()) e.erased_key = number;
        return;
      }
    }
  }

  // After a restart: what was acknowledged is there, and the digests agree.
  void Check(std::map<int, Expected>& expected) {
    Result<std::vector<MetadataBreak>> breaks = keys_->row_digests().Check();
    ASSERT_TRUE(breaks.has_value()) << breaks.status();
    EXPECT_TRUE(breaks->empty()) << breaks->front().table << ": " << breaks->front().what;
    COFFRE_ASSERT_OK(device_keys_->FinishErasures());
    for (auto& [d, e] : expected) {
      Result<DeviceIdentity> got = registry_->Get(Id(d));
      ASSERT_TRUE(got.has_value() || got.error().code() == StatusCode::kNotFound) << got.status();
      if (e.exists) {
        EXPECT_EQ(got.has_value(), *e.exists) << Id(d);
      }
      if (e.enabled && got.has_value()) {
        EXPECT_EQ(got->status == DeviceStatus::kEnabled, *e.enabled) << Id(d);
      }
      e.exists = got.has_value();
      e.enabled = got.has_value() && got->status == DeviceStatus::kEnabled;
      Result<TwinDocument> twin = twins_->Get({Id(d), std::nullopt}, "g");
      int tag = twin.has_value() && twin->tags().contains("v") ? twin->tags()["v"].get<int>() : -1;
      if (e.tag) {
        EXPECT_EQ(tag, *e.tag) << Id(d);
      }
      e.tag = tag;
      if (e.erased_key) {
        COFFRE_ASSERT_OK_AND_ASSIGN(bool stored, keys_->DeviceKeyStored(*e.erased_key));
        EXPECT_FALSE(stored) << Id(d) << "'s erased key " << *e.erased_key;
        EXPECT_TRUE(device_keys_->FindErasure(*e.erased_key).has_value()) << Id(d);
      }
    }
  }

  testing::TempDir dir_;
  testing::FakeKeyProvider provider_;
  ManualClock clock_;
  crypto::SecretBytes service_key_;
  std::shared_ptr<testing::CrashFileSystem> files_;
  std::unique_ptr<rocksdb::Env> env_;
  std::unique_ptr<storage::RocksKvStore> kv_;
  std::unique_ptr<HubKeys> keys_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<SealedRows> rows_;
  std::unique_ptr<TwinStore> twins_;
  std::unique_ptr<DeviceKeys> device_keys_;
};

TEST_F(MetadataCrashTest, AcknowledgedChangesSurvivePowerLossAndTheDigestsAgree) {
  std::mt19937_64 rng(kSeed);
  std::map<int, Expected> expected;
  for (int d = 0; d < kDevices; ++d) expected[d];
  int changes = 0;
  size_t unsynced_seen = 0;
  for (int loss = 0; loss < kPowerLosses; ++loss) {
    Open();
    Check(expected);
    if (HasFatalFailure()) return;
    // Half the losses come 1-30 ms into the round, whatever is being written then (mostly inside
    // an fsync, which completes); the other half at the 1st-40th sync of the round, before it is
    // made, which drops exactly what it would have made durable (a write acknowledged before
    // its sync would be lost there).
    {
      testing::PowerCut power(*files_, rng, loss % 2 == 1, std::chrono::milliseconds(1),
                              std::chrono::milliseconds(30), unsynced_seen);
      for (int i = 0; i < 10000 && !power.came(); ++i) {
        int d = static_cast<int>(rng() % kDevices);
        Change(d, expected[d], rng);
        ++changes;
      }
    }
    Close();
    files_->Crash();
  }
  Open();
  Check(expected);
  std::cout << kPowerLosses << " power losses, " << changes << " changes, " << unsynced_seen
            << " unsynced bytes dropped" << std::endl;
}

}  // namespace
}  // namespace coffre::hub
