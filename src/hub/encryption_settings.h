#pragma once
// EncryptionSettings: which key wraps the hub's root key and how the hub follows it, kept in the
// metadata store ("config/encryption", plain JSON: nothing in it is secret, and it is needed
// before any key is unwrapped) so that `coffre hub encryption set` survives restarts.
// EncryptionConfig owns the stored copy. Value type / thread-safe.

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "common/result.h"
#include "storage/kv_store.h"

namespace coffre::hub {

struct EncryptionSettings {
  // The customer-managed key, or empty: service-managed (the root key wrapped by a key derived
  // from the service key; the weaker mode, see docs/SECURITY.md).
  std::string key_uri;
  std::string vault_token_file;  // the hub's vault token (a file of mode 0600)
  std::string vault_ca_file;     // the vault's CA; empty: the system's
  // The secret of the vault's key-event subscription for this hub (a file of mode 0600);
  // empty: POST /$coffre/keyevents is refused.
  std::string key_events_secret_file;
  int key_check_interval_ms = 500;  // 50-500: the hub obeys within a second
  int vault_grace_s = 60;           // 0-86400: cached keys serve while the vault is unreachable
  bool expired_is_inaccessible = true;  // false: "continue", Key Vault's own semantics

  bool customer_managed() const { return !key_uri.empty(); }
  nlohmann::json ToJson() const;        // the stored form
  nlohmann::json TunablesJson() const;  // keyCheckIntervalMs, vaultGraceSeconds, expiredKey
  static Result<EncryptionSettings> FromJson(const nlohmann::json& j);
  // Applies the tunables present in `j` (keyCheckIntervalMs, vaultGraceSeconds, expiredKey) to
  // a copy of this; INVALID_ARGUMENT for a bad or unknown one.
  Result<EncryptionSettings> With(const nlohmann::json& j) const;
};

// The metadata store's row of the settings (JSON, not sealed: no secret is in them).
inline constexpr const char* kEncryptionSettingsRow = "config/encryption";

class EncryptionConfig {
 public:
  // The stored settings, or `initial` (stored now) on a hub that has none. kv must outlive this.
  static Result<std::unique_ptr<EncryptionConfig>> Load(storage::KvStore& kv,
                                                        const EncryptionSettings& initial);
  EncryptionSettings Get() const;
  // Stores `next` durably, then makes it current.
  Status Set(const EncryptionSettings& next);

 private:
  EncryptionConfig(storage::KvStore& kv, EncryptionSettings s) : kv_(kv), settings_(std::move(s)) {}
  storage::KvStore& kv_;
  std::mutex write_mu_;  // one Set at a time; taken before mu_
  mutable std::mutex mu_;
  EncryptionSettings settings_;  // guarded by mu_
};


}  // namespace coffre::hub
