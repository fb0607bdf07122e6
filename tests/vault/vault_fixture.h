#pragma once
// A vault on a temporary RocksDB with a test clock, as coffre-vault wires it.

#include <atomic>

#include "common/clock.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"
#include "vault/api/access_control.h"
#include "vault/keys/key_vault.h"
#include "vault/seal/sealed_store.h"

namespace coffre::vault {

class VaultFixture {
 public:
  // events, if set, must outlive the fixture; the vault and access control publish to it.
  explicit VaultFixture(VaultSettings settings = {}, KeyEventSink* events = nullptr)
      : settings_(settings), events_(events) {
    Open();
  }
  // A second vault of the same master key lineage (a copy of the sealed master key).
  VaultFixture(VaultSettings settings, const crypto::SecretBytes& master)
      : settings_(settings), events_(nullptr), master_(std::move(master.Clone().value())) {
    Open();
  }

  void Open() {
    vault_.reset();
    access_.reset();
    store_.reset();
    kv_.reset();
    kv_ = std::move(storage::RocksKvStore::Open(dir_.path() / "db").value());
    if (master_.empty()) master_ = std::move(crypto::SecretBytes::Random(32).value());
    store_ = std::move(SealedStore::Open(*kv_, std::move(master_.Clone().value())).value());
    access_ = std::make_unique<AccessControl>(*store_, clock_, events_);
    storage::RocksKvStore* kv = kv_.get();
    vault_ = std::make_unique<KeyVault>(
        *store_, settings_, clock_, [kv] { return kv->DestroyDeletedData(); }, events_);
  }

  void Advance(int64_t seconds) { clock_.Advance(std::chrono::seconds(seconds)); }
  int64_t now() const { return clock_.NowSeconds(); }
  ManualClock& clock() { return clock_; }  // starts at 1'800'000'000 s

  KeyVault& vault() { return *vault_; }
  AccessControl& access() { return *access_; }
  SealedStore& store() { return *store_; }
  storage::RocksKvStore& kv() { return *kv_; }
  const std::filesystem::path& dir() const { return dir_.path(); }
  const crypto::SecretBytes& master_key() const { return master_; }

 private:
  testing::TempDir dir_;
  VaultSettings settings_;
  KeyEventSink* events_;
  ManualClock clock_;
  crypto::SecretBytes master_;
  std::unique_ptr<storage::RocksKvStore> kv_;
  std::unique_ptr<SealedStore> store_;
  std::unique_ptr<AccessControl> access_;
  std::unique_ptr<KeyVault> vault_;
};

}  // namespace coffre::vault
