#pragma once
// KeyVault: keys, their versions and lifecycle, as Azure Key Vault defines them
// (docs/VAULT.md): create and import add a version; "latest" is the newest
// version; delete is soft (all versions, recoverable until the retention ends, purge refused
// under purge protection); crypto needs the version enabled, inside [nbf, exp) for encrypt and
// wrap, and the operation in key_ops. Permissions are checked by the caller (the REST layer).
//
// Every change, once durable, is published to the optional KeyEventSink (key_events.h).
// Errors carry the Azure inner error code as the Status's detail when there is one
// (KeyDisabled, KeyOperationForbidden, ObjectIsDeletedButRecoverable, ...); the API sends it
// as innererror.code.
// Thread-safe.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"

#include "vault/keys/key_events.h"
#include "vault/keys/key_material.h"
#include "vault/keys/rotation_policy.h"
#include "vault/keys/key_snapshot.h"
#include "vault/seal/sealed_store.h"

namespace coffre::vault {

struct VaultSettings {
  bool purge_protection = false;
  int retention_days = 90;  // 7..90
  std::string RecoveryLevel() const;
};

struct KeyAttributesPatch {
  std::optional<bool> enabled;
  std::optional<std::optional<int64_t>> nbf, exp;  // outer: present; inner nullopt: clear
};

struct KeyVersion {
  std::string name;
  std::string version;
  std::string kty;  // RSA, RSA-HSM, oct, oct-HSM
  int key_size = 0;
  std::vector<std::string> key_ops;
  bool enabled = true;
  std::optional<int64_t> nbf, exp;
  int64_t created = 0, updated = 0;
  nlohmann::json tags = nlohmann::json::object();
  Bytes n, e;
};

struct DeletedKey {
  KeyVersion latest;
  int64_t deleted_date = 0;
  int64_t scheduled_purge_date = 0;
};

struct CreateKeyRequest {
  std::string kty;
  std::optional<int> key_size;
  std::optional<uint32_t> public_exponent;
  std::optional<std::vector<std::string>> key_ops;
  KeyAttributesPatch attributes;
  nlohmann::json tags = nlohmann::json::object();
};

struct ImportKeyRequest {
  std::string kty;
  KeyMaterial material;
  std::optional<std::vector<std::string>> key_ops;
  KeyAttributesPatch attributes;
  nlohmann::json tags = nlohmann::json::object();
};

struct UpdateKeyRequest {
  std::optional<std::vector<std::string>> key_ops;
  KeyAttributesPatch attributes;
  std::optional<nlohmann::json> tags;
};

// A live key as the rotation scheduler sees it.
struct KeyPolicyState {
  KeyVersion latest;
  RotationPolicy policy;  // the default one until one is set
  std::map<std::string, std::string> published;  // event type -> the last version it was for
};

struct OperationResult {
  std::string name;  // the key's name as created
  std::string version;
  Bytes value;
};

// A key name in lower case (ASCII: key names are 0-9 a-z A-Z -): the key's id.
std::string LowerKeyName(std::string_view name);

class KeyVault {
 public:
  using DestroyDeletedData = std::function<Status()>;

  // store, clock (the vault's: VaultClock) and events, if set, must outlive the vault. destroy
  // runs after a purge so no copy stays on disk.
  KeyVault(SealedStore& store, VaultSettings settings, const Clock& clock,
           DestroyDeletedData destroy, KeyEventSink* events = nullptr);

  static bool ValidName(std::string_view name);

  // Key names are case-insensitive, as in Azure: records live under the lower-case name (the
  // key's id) and keep the name as created, which kids show. Moves the records of keys created
  // before that (stored under their exact name) to their id, once, at start; a key whose id
  // is taken by another (both spellings existed) stays under its exact name, still reachable
  // by it, and is logged.
  static Status MigrateKeyNames(SealedStore& store);

  const VaultSettings& settings() const { return settings_; }

  Result<KeyVersion> Create(const std::string& name, const CreateKeyRequest& request);
  Result<KeyVersion> Import(const std::string& name, ImportKeyRequest request);
  Result<KeyVersion> Get(const std::string& name, const std::string& version);  // "" = latest
  Result<std::vector<KeyVersion>> ListLatest();
  Result<std::vector<KeyVersion>> ListVersions(const std::string& name);
  Result<KeyVersion> Update(const std::string& name, const std::string& version,
                            const UpdateKeyRequest& request);
  // A new version like the latest; its exp is now + the rotation policy's expiryTime, if set.
  // With `if_latest`, only while that version is still the latest (FAILED_PRECONDITION else),
  // so a scheduled rotation never doubles a manual one.
  Result<KeyVersion> Rotate(const std::string& name, const std::string& if_latest = "");

  // The rotation policy lives in the key's record: it follows the key through delete and
  // recover, and a purge removes it. Get answers the default policy until one is set; Set
  // takes a validated policy (ParseRotationPolicyUpdate) and keeps the first `created`.
  Result<RotationPolicy> GetRotationPolicy(const std::string& name);
  Result<RotationPolicy> SetRotationPolicy(const std::string& name, RotationPolicy policy);
  Result<std::vector<KeyPolicyState>> ListPolicyStates();
  // Records that `event_type` was published for `version`: false if it already was. Kept in
  // the key's record, so an event is published once per version across restarts.
  Result<bool> MarkPublished(const std::string& name, std::string_view event_type,
                             const std::string& version);

  Result<DeletedKey> Delete(const std::string& name);
  Result<DeletedKey> GetDeleted(const std::string& name);
  Result<std::vector<DeletedKey>> ListDeleted();
  Result<KeyVersion> Recover(const std::string& name);
  Status Purge(const std::string& name);

  // Backup and restore act on all versions (KeyBackup seals the snapshot). Restore brings the
  // key back with its version ids, attributes and key record, also after a purge; it refuses a
  // live name (ALREADY_EXISTS) and a deleted one (detail ObjectIsDeletedButRecoverable).
  Result<KeySnapshot> Snapshot(const std::string& name);
  Result<KeyVersion> Restore(const KeySnapshot& snapshot);

  // op: "wrapKey", "unwrapKey", "encrypt", "decrypt".
  Result<OperationResult> Operate(const std::string& name, const std::string& version,
                                  const std::string& op, const std::string& alg, ByteSpan value);

 private:
  // The id `name`'s records are stored under (MigrateKeyNames); callers hold mu_.
  Result<std::string> IdOf(const std::string& name);
  Result<nlohmann::json> KeyRecord(const std::string& id);      // NOT_FOUND unless live
  Result<nlohmann::json> DeletedRecord(const std::string& id);  // NOT_FOUND unless deleted
  Result<KeyVersion> LoadVersion(const std::string& id, const std::string& version);
  Result<DeletedKey> DeletedLocked(const std::string& id);
  Result<KeyVersion> AddVersion(const std::string& name, const std::string& kty,
                                KeyMaterial material, std::optional<std::vector<std::string>> ops,
                                const KeyAttributesPatch& attributes, const nlohmann::json& tags);
  Status PurgeLocked(const std::string& id);
  static std::string KeyKey(const std::string& id) { return "key/" + id; }
  Status PurgeExpiredLocked();
  void Publish(std::string_view type, const KeyVersion& v);

  SealedStore& store_;
  VaultSettings settings_;
  const Clock& clock_;
  DestroyDeletedData destroy_;
  KeyEventSink* events_;  // may be null
  std::shared_mutex mu_;  // writers: create, update, delete, ...; readers: get, list, crypto
};

}  // namespace coffre::vault
