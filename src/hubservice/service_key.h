#pragma once
// The hub's service key (the infrastructure layer's, storage/file_cipher.h): a file of its own,
// mode 0600, made at the first start; or, with a ServiceKeyToken, the same file holding the key
// sealed by an AES key on a PKCS#11 token (keys/pkcs11_sealed_secret.h), so that the key is
// never on disk in the clear and opens only where the token is:
//   {"version":1, "kdf":"pkcs11", "token_label", "key_label", "mechanism", "iv", "sealed"}
// (GCM AAD "coffre-hub-service-key-v1"). Stateless.

#include <filesystem>
#include <optional>
#include <string>

#include "common/result.h"
#include "crypto/secret_bytes.h"
#include "keys/pkcs11_sealed_secret.h"

namespace coffre::hubservice {

inline constexpr const char* kServiceKeyTokenKeyLabel = keys::kHubPkcs11KeyLabel;

// The hub's PKCS#11 token (--pkcs11-*): it seals the service key, and opens a vault token file
// sealed by `coffre seal-vault-token`.
struct ServiceKeyToken {
  std::filesystem::path module = keys::kDefaultPkcs11Module;
  std::string token_label;  // required for a new key; else the file's (another is refused)
  std::string key_label;    // empty: the file's, or kServiceKeyTokenKeyLabel for a new key
  std::filesystem::path pin_file;  // the token's user PIN (a secret file)
};

// The key in `file`, made there first if missing. A plain key file with a token given, or a
// token-sealed one without, is refused (FAILED_PRECONDITION) with what to do.
// The token's sealing settings, its PIN read from pin_file.
Result<keys::Pkcs11Sealing> TokenSealing(const ServiceKeyToken& token);

Result<crypto::SecretBytes> OpenServiceKey(const std::filesystem::path& file,
                                           const std::optional<ServiceKeyToken>& token);

}  // namespace coffre::hubservice
