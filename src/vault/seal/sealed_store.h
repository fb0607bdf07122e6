#pragma once
// SealedStore: the vault's records in a KvStore, each sealed as an envelope (AES-256-GCM) whose
// AAD is the record's storage key ("<kind>/<name>[/<version>]"), so nobody who can write the
// disk can edit, swap or re-label a record (re-enable a key, grant access) undetected.
// Sealing keys descend from the vault master key as in the hub: master key (root) -> one data
// key per vault process incarnation (EnvelopeWriter). Records are JSON or raw key material.
// Thread-safe.

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "crypto/envelope_reader.h"
#include "crypto/envelope_writer.h"
#include "crypto/root_key.h"
#include "storage/kv_data_key_store.h"
#include "storage/kv_store.h"

namespace coffre::vault {

class SealedStore {
 public:
  // kv must outlive the store.
  static Result<std::unique_ptr<SealedStore>> Open(storage::KvStore& kv,
                                                   crypto::SecretBytes master_key);

  Status Put(const std::string& key, ByteSpan plaintext);
  Status PutJson(const std::string& key, const nlohmann::json& value);
  // Several records at once, all or nothing. A change writes `json` if set, else `raw` (key
  // material, sealed straight from its SecretBytes), or erases the record.
  struct Change {
    std::string key;
    std::optional<nlohmann::json> json;
    ByteSpan raw;
    bool erase = false;
  };
  Status Apply(const std::vector<Change>& changes);

  Result<Bytes> Get(const std::string& key);  // NOT_FOUND if absent
  Result<crypto::SecretBytes> GetSecret(const std::string& key);
  Result<nlohmann::json> GetJson(const std::string& key);
  Status Delete(const std::string& key);
  // Opened JSON records under `prefix`, in key order.
  Status ScanJson(const std::string& prefix,
                  const std::function<bool(const std::string& key, const nlohmann::json&)>& fn);

  // A 32-byte key for one purpose, derived from the vault master key with HKDF-SHA256
  // (RootKey::DeriveKey: info "coffre/" + label). Each label gives an independent key.
  Result<crypto::SecretBytes> DeriveKey(std::string_view label) const {
    return root_->DeriveKey(label);
  }

 private:
  SealedStore(storage::KvStore& kv, std::unique_ptr<crypto::RootKey> root,
              std::unique_ptr<storage::KvDataKeyStore> deks);
  Result<Bytes> Seal(const std::string& key, ByteSpan plaintext);

  storage::KvStore& kv_;
  std::unique_ptr<crypto::RootKey> root_;
  std::unique_ptr<storage::KvDataKeyStore> deks_;
  crypto::EnvelopeReader reader_;
  std::mutex writer_mu_;
  std::unique_ptr<crypto::EnvelopeWriter> writer_;  // guarded by writer_mu_
};

}  // namespace coffre::vault
