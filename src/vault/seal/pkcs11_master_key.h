#pragma once
// The vault master key sealed by a key on a PKCS#11 token (an HSM, or SoftHSM2) instead of a
// passphrase (keys/pkcs11_sealed_secret.h: a non-extractable AES-256 key object on the token,
// generated there when the vault is initialised unless one with the label exists, seals the
// master key with CKM_AES_GCM); master.json (master_key_file.h) then holds
//   {"version":1, "kdf":"pkcs11", "token_label":"...", "key_label":"...",
//    "mechanism":"CKM_AES_GCM", "iv":"<b64url, 12 B>", "sealed":"<b64url, 32 B + 16 B tag>",
//    "lineage":"..."}                                    (GCM AAD: "coffre-vault-master-v1")
// The token writes the unsealed key straight into secure memory; the module, the session and
// the login last for one call only. Stateless, thread-safe.

#include <filesystem>
#include <string>

#include "common/result.h"
#include "crypto/secret_bytes.h"
#include "keys/pkcs11_sealed_secret.h"

namespace coffre::vault {

using keys::kDefaultPkcs11Module;
inline constexpr const char* kDefaultPkcs11KeyLabel = "coffre-vault-master";

// token_label: empty on unseal, the token master.json names; key_label: empty, master.json's,
// or kDefaultPkcs11KeyLabel for a new vault.
using Pkcs11MasterKeyOptions = keys::Pkcs11Sealing;

// Makes a new master key, sealed by the token's key (generated if absent), and writes
// master.json. ALREADY_EXISTS if present; the token errors of Unseal below.
Result<crypto::SecretBytes> CreatePkcs11MasterKeyFile(const std::filesystem::path& path,
                                                      const Pkcs11MasterKeyOptions& options);

// FAILED_PRECONDITION: the module cannot be loaded, master.json is sealed by a passphrase or by
// another token or key than `options` names; NOT_FOUND: no such token, or the key is missing;
// PERMISSION_DENIED: wrong PIN, or the key did not open master.json; UNAVAILABLE: the token
// was removed.
Result<crypto::SecretBytes> UnsealPkcs11MasterKey(const std::filesystem::path& path,
                                                  const Pkcs11MasterKeyOptions& options);

}  // namespace coffre::vault
