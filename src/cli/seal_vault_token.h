#pragma once
// `coffre seal-vault-token`: the hub's vault token sealed by an AES key on the hub's PKCS#11
// token (keys/pkcs11_sealed_secret.h), so that the file coffre-hub reads (vault_token_file)
// never holds it in the clear; coffre-hub opens it with its --pkcs11-* settings.

#include <filesystem>
#include <string>

#include "common/status.h"

namespace coffre::cli {

struct SealVaultTokenOptions {
  std::filesystem::path in;   // the token as the vault issued it (a secret file)
  std::filesystem::path out;  // the sealed file, written mode 0600; must not exist
  std::filesystem::path pin_file;
  std::string token_label;
  std::string key_label;  // empty: coffre-hub's default (keys::kHubPkcs11KeyLabel)
  std::filesystem::path module;
};

Status SealVaultToken(const SealVaultTokenOptions& options);

}  // namespace coffre::cli
