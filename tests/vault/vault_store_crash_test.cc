// Power loss under the vault's store (tests/fakes/crash_file_system.h under RocksDB, as
// tests/hub/metadata_crash_test.cc does for the hub): one thread creates, rotates, updates
// (enables, disables, tags), deletes, recovers and purges keys through KeyVault, the layer the
// vault's API uses, while the power is cut at a random moment or at a random sync, so the cut
// lands inside a sealed write, right before its sync, in the first seal of an incarnation (its
// data key written first), or inside a purge's compaction. After each loss the store opens
// as the vault opens it, every sealed record opens, every acknowledged change is there (a
// version's attributes and tags, the latest version, live / deleted / purged), every version
// kept still unwraps what it wrapped when it was made, and a change cut short is there or not.
#include <rocksdb/env.h>

#include <gtest/gtest.h>

#include <atomic>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <thread>

#include "common/clock.h"
#include "fakes/crash_file_system.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"
#include "vault/keys/key_vault.h"
#include "vault/seal/sealed_store.h"

namespace coffre::vault {
namespace {

constexpr int kPowerLosses = 25;
constexpr int kKeys = 6;
constexpr uint64_t kSeed = 20261208;

enum class Life { kAbsent, kLive, kDeleted };

// What the test knows of a version: nullopt where a change to it was cut short (either value is
// right then, and the next check learns which).
struct VersionExpect {
  std::optional<bool> enabled;
  std::optional<int> tag;  // tags.v; -1: no tag
  Bytes wrapped;           // the sample wrapped by this version (empty: not known)
};

struct Expected {
  std::optional<Life> life = Life::kAbsent;
  std::map<std::string, VersionExpect> versions;  // every acknowledged (or learnt) version
  std::optional<std::string> latest;
};

int TagOf(const KeyVersion& v) { return v.tags.contains("v") ? v.tags["v"].get<int>() : -1; }

class VaultStoreCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    master_ = std::move(crypto::SecretBytes::Random(32).value());
    files_ = std::make_shared<testing::CrashFileSystem>(rocksdb::FileSystem::Default());
    env_ = rocksdb::NewCompositeEnv(files_);
    for (int i = 0; i < 32; ++i) sample_.push_back(static_cast<std::byte>(i * 7 + 1));
  }

  // As VaultService::Start opens the store: RocksDB, the sealed store, the name migration,
  // the key layer (its destroy compacts the store after a purge, as the vault's does).
  void Open() {
    Close();
    kv_ = std::move(storage::RocksKvStore::Open(dir_.path() / "db", {env_.get()}).value());
    store_ = std::move(SealedStore::Open(*kv_, std::move(master_.Clone().value())).value());
    COFFRE_ASSERT_OK(KeyVault::MigrateKeyNames(*store_));
    vault_ = std::make_unique<KeyVault>(*store_, VaultSettings{}, clock_,
                                        [this] { return kv_->DestroyDeletedData(); });
  }
  void Close() {
    vault_.reset();
    store_.reset();
    kv_.reset();
  }
  static std::string Name(int k) { return "key-" + std::to_string(k); }

  Bytes Wrap(const std::string& name, const std::string& version) {
    auto r = vault_->Operate(name, version, "wrapKey", "A256KW", sample_);
    return r.has_value() ? r->value : Bytes();
  }

  // A new version was acknowledged (create, rotate): expected as returned, and its wrap.
  void Added(Expected& e, const KeyVersion& v) {
    e.life = Life::kLive;
    e.latest = v.version;
    e.versions[v.version] = {v.enabled, TagOf(v), Wrap(v.name, v.version)};
  }

  // One random change of key k, on what the test knows of it; updates `e` as far as the change
  // was acknowledged. Returns false if there was nothing to do (the key's state is unknown).
  bool Change(int k, Expected& e, std::mt19937_64& rng) {
    if (!e.life) return false;  // a change was cut short: the next check learns its state
    std::string name = Name(k);
    clock_.Advance(std::chrono::seconds(1));
    int dice = static_cast<int>(rng() % 100);
    switch (*e.life) {
      case Life::kAbsent: {
        CreateKeyRequest oct{"oct", 256, {}, {}, {}, {}};
        auto r = vault_->Create(name, oct);
        if (r.has_value()) {
          Added(e, *r);
        } else {
          e.life = std::nullopt;
          e.latest = std::nullopt;
        }
        return true;
      }
      case Life::kLive: {
        if (dice < 30) {
          auto r = vault_->Rotate(name);
          if (r.has_value()) {
            Added(e, *r);
          } else {
            e.latest = std::nullopt;  // a new version, or not
          }
        } else if (dice < 85 && !e.versions.empty()) {
          auto it = std::next(e.versions.begin(), static_cast<long>(rng() % e.versions.size()));
          bool enable = rng() % 3 != 0;  // mostly enabled: their material is checked by unwrap
          int tag = static_cast<int>(rng() % 1000);
          UpdateKeyRequest u;
          u.attributes.enabled = enable;
          u.tags = nlohmann::json{{"v", tag}};
          auto r = vault_->Update(name, it->first, u);
          it->second.enabled = r.has_value() ? std::optional<bool>(enable) : std::nullopt;
          it->second.tag = r.has_value() ? std::optional<int>(tag) : std::nullopt;
        } else {
          e.life = vault_->Delete(name).has_value() ? std::optional(Life::kDeleted) : std::nullopt;
        }
        return true;
      }
      case Life::kDeleted: {
        if (dice < 60) {
          e.life = vault_->Recover(name).has_value() ? std::optional(Life::kLive) : std::nullopt;
        } else if (vault_->Purge(name).ok()) {
          e = Expected{};  // absent, no versions
        } else {
          e.life = std::nullopt;  // purged or not (or purged, and the compaction cut)
        }
        return true;
      }
    }
    return false;
  }

  // After a restart: every sealed record opens.
  void CheckRecordsOpen() {
    std::vector<std::string> keys;
    COFFRE_ASSERT_OK(kv_->Scan("", [&](std::string_view key, ByteSpan) {
      keys.emplace_back(key);
      return true;
    }));
    for (const std::string& key : keys) {
      if (key.starts_with("dek/")) continue;  // the data keys, wrapped by the master key
      EXPECT_TRUE(store_->Get(key).has_value()) << key << ": " << store_->Get(key).status();
    }
  }

  // After a restart: what was acknowledged is there; learns what was cut short.
  void Check(int k, Expected& e) {
    std::string name = Name(k);
    Result<KeyVersion> live = vault_->Get(name, "");
    ASSERT_TRUE(live.has_value() || live.error().code() == StatusCode::kNotFound) << live.status();
    Result<DeletedKey> deleted = vault_->GetDeleted(name);
    ASSERT_TRUE(deleted.has_value() || deleted.error().code() == StatusCode::kNotFound)
        << deleted.status();
    ASSERT_FALSE(live.has_value() && deleted.has_value()) << name << " is live and deleted";
    Life now = live.has_value()      ? Life::kLive
               : deleted.has_value() ? Life::kDeleted
                                     : Life::kAbsent;
    if (e.life) {
      EXPECT_EQ(static_cast<int>(now), static_cast<int>(*e.life)) << name;
    }
    e.life = now;
    if (now == Life::kAbsent) {
      e.versions.clear();
      e.latest = std::nullopt;
      return;
    }
    std::string latest = now == Life::kLive ? live->version : deleted->latest.version;
    if (e.latest) {
      EXPECT_EQ(latest, *e.latest) << name << "'s latest version";
    }
    e.latest = latest;
    if (now == Life::kDeleted) return;  // its versions are checked once it is recovered
    COFFRE_ASSERT_OK_AND_ASSIGN(std::vector<KeyVersion> versions, vault_->ListVersions(name));
    ASSERT_FALSE(versions.empty()) << name;
    std::map<std::string, const KeyVersion*> stored;
    for (const KeyVersion& v : versions) stored[v.version] = &v;
    EXPECT_EQ(versions.back().version, latest) << name;
    for (const auto& [version, expect] : e.versions) {
      EXPECT_TRUE(stored.contains(version)) << name << "/" << version << " is gone";
    }
    for (const auto& [version, v] : stored) {
      VersionExpect& expect = e.versions[version];  // a version cut short is learnt here
      if (expect.enabled) {
        EXPECT_EQ(v->enabled, *expect.enabled) << name << "/" << version;
      }
      if (expect.tag) {
        EXPECT_EQ(TagOf(*v), *expect.tag) << name << "/" << version;
      }
      expect.enabled = v->enabled;
      expect.tag = TagOf(*v);
      if (!v->enabled) continue;
      if (expect.wrapped.empty()) {
        expect.wrapped = Wrap(name, version);  // checked from the next restart on
        EXPECT_FALSE(expect.wrapped.empty()) << name << "/" << version;
        continue;
      }
      auto back = vault_->Operate(name, version, "unwrapKey", "A256KW", expect.wrapped);
      ASSERT_TRUE(back.has_value()) << name << "/" << version << ": " << back.status();
      EXPECT_EQ(back->value, sample_) << name << "/" << version << "'s material";
      ++unwraps_checked_;
    }
  }

  testing::TempDir dir_;
  ManualClock clock_;
  crypto::SecretBytes master_;
  Bytes sample_;
  std::shared_ptr<testing::CrashFileSystem> files_;
  std::unique_ptr<rocksdb::Env> env_;
  std::unique_ptr<storage::RocksKvStore> kv_;
  std::unique_ptr<SealedStore> store_;
  std::unique_ptr<KeyVault> vault_;
  int unwraps_checked_ = 0;
};

TEST_F(VaultStoreCrashTest, AcknowledgedKeyChangesSurvivePowerLossAndTheStoreOpens) {
  std::mt19937_64 rng(kSeed);
  std::map<int, Expected> expected;
  for (int k = 0; k < kKeys; ++k) expected[k];
  int changes = 0;
  size_t unsynced_seen = 0;
  for (int loss = 0; loss <= kPowerLosses; ++loss) {
    Open();
    if (HasFatalFailure()) return;
    CheckRecordsOpen();
    for (auto& [k, e] : expected) {
      Check(k, e);
      if (HasFatalFailure()) return;
    }
    if (loss == kPowerLosses) break;
    // Half the losses come at a random moment, 2-150 ms into the round (a synced write takes a
    // few ms: tens of changes), mostly inside an fsync; the other half at the 1st-40th sync of
    // the round, before it is made, which drops exactly what it would have made durable.
    {
      coffre::testing::PowerCut power(*files_, rng, loss % 2 == 1, std::chrono::milliseconds(2),
                                      std::chrono::milliseconds(150), unsynced_seen);
      for (int i = 0; i < 10000 && !power.came(); ++i) {
        int k = static_cast<int>(rng() % kKeys);
        if (Change(k, expected[k], rng)) ++changes;
      }
    }
    Close();
    files_->Crash();
  }
  size_t versions = 0;
  for (const auto& [k, e] : expected) versions += e.versions.size();
  EXPECT_GT(unsynced_seen, 0u) << "no power loss dropped anything: the test did not bite";
  std::cout << kPowerLosses << " power losses, " << changes << " key changes, " << versions
            << " versions at the end, " << unwraps_checked_ << " unwraps checked, "
            << unsynced_seen << " unsynced bytes dropped" << std::endl;
}

}  // namespace
}  // namespace coffre::vault
