#pragma once
// KeyProvider: the seam to whoever holds a key-encryption key that never leaves it (the
// customer's vault, an HSM, a local file for development). Coffre only ever asks it to wrap and
// unwrap the hub root key, and to describe the key's state.
//
// Errors tell revocation apart from an outage, because the hub reacts differently:
//   PERMISSION_DENIED   the provider refuses this identity (access revoked, right missing)
//   FAILED_PRECONDITION the key exists but may not be used (disabled, expired, not yet valid)
//   NOT_FOUND           the key was deleted (or never existed)
//   UNAVAILABLE, DEADLINE_EXCEEDED  the provider cannot be reached or answered 5xx: retry
//   DATA_LOSS           the wrapped bytes do not unwrap (OpenFailed(): one error for all causes)
// Implementations are thread-safe.

#include <string>

#include "common/bytes.h"
#include "common/result.h"
#include "crypto/secret_bytes.h"

namespace coffre::crypto {

enum class KeyState { kEnabled, kDisabled, kExpired, kNotYetValid, kDeleted };

std::string_view KeyStateName(KeyState state);

struct KeyDescription {
  std::string name;     // "hub-cmk"
  std::string version;  // the current version
  std::string id;       // the full, versioned key identifier (a vault URL, a file URI)
  KeyState state = KeyState::kEnabled;
  // False when the vault lets the key be purged before its retention ends (Key Vault's
  // recoveryLevel says "Purgeable"): then one mistaken purge destroys the hub's data.
  bool purge_protected = true;
  bool enabled() const { return state == KeyState::kEnabled; }
};

// A key wrapped by a provider: which key version wrapped it, how, and the wrapped bytes.
struct WrappedKey {
  std::string key_id;     // the versioned identifier of the wrapping key
  std::string algorithm;  // "RSA-OAEP-256", "A256KW", ...
  Bytes ciphertext;

  friend bool operator==(const WrappedKey&, const WrappedKey&) = default;
};

// JSON form for storage: {"kid": ..., "alg": ..., "value": base64url}.
std::string SerializeWrappedKey(const WrappedKey& wrapped);
Result<WrappedKey> ParseWrappedKey(std::string_view json);

class KeyProvider {
 public:
  virtual ~KeyProvider() = default;

  virtual Result<WrappedKey> Wrap(const SecretBytes& key) = 0;
  virtual Result<SecretBytes> Unwrap(const WrappedKey& wrapped) = 0;
  virtual Result<KeyDescription> Describe() = 0;
};

enum class KeyAccess {
  kGranted,      // OK
  kRevoked,      // denied, disabled, expired, deleted: the customer's decision, act at once
  kUnreachable,  // outage: cached keys may serve for the grace period
  kBroken,       // anything else (corrupt wrapped key, internal error)
};

KeyAccess ClassifyKeyAccess(const Status& status);

}  // namespace coffre::crypto
