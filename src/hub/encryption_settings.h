#pragma once
// EncryptionSettings: how the hub follows its customer-managed key, kept in the metadata store
// ("config/encryption", plain JSON: nothing in it is secret, and it is needed before any key is
// unwrapped) so that `coffre hub encryption set` survives restarts. Value type.

#include <chrono>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "storage/kv_store.h"

namespace coffre::hub {

struct EncryptionSettings {
  int key_check_interval_ms = 500;  // 50-500: the hub obeys within a second
  int vault_grace_s = 60;           // 0-86400: cached keys serve while the vault is unreachable
  bool expired_is_inaccessible = true;  // false: "continue", Key Vault's own semantics

  nlohmann::json ToJson() const;
  // Applies the fields present in `j` to a copy of this; INVALID_ARGUMENT for a bad one.
  Result<EncryptionSettings> With(const nlohmann::json& j) const;
};

// NOT_FOUND on a hub that never stored any.
Result<EncryptionSettings> LoadEncryptionSettings(storage::KvStore& kv);
Status StoreEncryptionSettings(storage::KvStore& kv, const EncryptionSettings& settings);

}  // namespace coffre::hub
