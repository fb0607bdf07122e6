#pragma once
// A 256-bit secret sealed by an AES key on a PKCS#11 token (an HSM, or SoftHSM2): the token's
// non-extractable key (keys/pkcs11_aes_key.h, generated there if the label is new) seals it
// with CKM_AES_GCM, and the sealed form is a few JSON fields the caller keeps in its own file:
//   {"token_label", "key_label", "mechanism": "CKM_AES_GCM", "iv": b64url(12 B),
//    "sealed": b64url(32 B + 16 B tag)}
// The AAD names the purpose (the vault's master key, the hub's service key), so a sealed
// secret cannot be passed off as another. The module, the session and the login last for one
// call. Used by coffre-vault's master key and coffre-hub's service key. Stateless, thread-safe.

#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "crypto/secret_bytes.h"

namespace coffre::keys {

inline constexpr const char* kDefaultPkcs11Module = "/usr/lib/softhsm/libsofthsm2.so";
// coffre-hub's secrets on a token: its AES key's default label, and the AAD of its vault token
// (the service key's is hubservice's).
inline constexpr const char* kHubPkcs11KeyLabel = "coffre-hub-service";
inline constexpr std::string_view kHubVaultTokenAad = "coffre-hub-vault-token-v1";

// A token's user PIN from its file, without the line end, in secure memory.
Result<crypto::SecretBytes> ReadPinFile(const std::filesystem::path& path);

// A file of a sealed secret: {"version":1, "kdf":"pkcs11", <SealSecret's fields>}.
bool IsSealedSecretFile(const nlohmann::json& file);
Status WriteSealedSecretFile(const std::filesystem::path& path, nlohmann::json fields);

struct Pkcs11Sealing {
  std::filesystem::path module = kDefaultPkcs11Module;
  std::string token_label;  // empty when opening: the token the sealed fields name
  std::string key_label;    // empty when opening: the sealed fields'
  crypto::SecretBytes pin;
};

struct SealedSecret {
  crypto::SecretBytes secret;
  nlohmann::json fields;  // to keep beside it
};

// `secret` (any length up to 4 KiB: a vault token, say) sealed by `sealing`'s token key, as
// SealNewSecret does; the fields to keep.
Result<nlohmann::json> SealSecret(const Pkcs11Sealing& sealing, std::string_view default_key_label,
                                  std::string_view aad, ByteSpan secret);

// A new random secret, sealed by `sealing`'s token key (`key_label`, else `default_key_label`;
// generated if absent) and opened once to check the token gives it back.
Result<SealedSecret> SealNewSecret(const Pkcs11Sealing& sealing, std::string_view default_key_label,
                                   std::string_view aad);

// The secret `fields` hold. `what` names it in errors ("the vault master key in FILE").
// FAILED_PRECONDITION: the module cannot be loaded, or `sealing` names another token or key
// than the fields; NOT_FOUND: no such token, or the key is missing; PERMISSION_DENIED: wrong
// PIN, or the key does not open it; DATA_LOSS: the fields are not a sealed secret.
// `size`: the secret's length (0: any).
Result<crypto::SecretBytes> OpenSealedSecret(const nlohmann::json& fields,
                                             const Pkcs11Sealing& sealing, std::string_view aad,
                                             const std::string& what, size_t size = 32);

}  // namespace coffre::keys
