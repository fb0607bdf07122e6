#include "cli/seal_vault_token.h"

#include "common/files.h"
#include "common/strings.h"
#include "crypto/secret_bytes.h"
#include "keys/pkcs11_sealed_secret.h"

namespace coffre::cli {

Status SealVaultToken(const SealVaultTokenOptions& options) {
  if (std::filesystem::exists(options.out)) {
    return AlreadyExists(options.out.string() + " exists: seal into a new file");
  }
  keys::Pkcs11Sealing sealing;
  if (!options.module.empty()) sealing.module = options.module;
  sealing.token_label = options.token_label;
  sealing.key_label = options.key_label;
  COFFRE_ASSIGN_OR_RETURN(sealing.pin, keys::ReadPinFile(options.pin_file));

  COFFRE_ASSIGN_OR_RETURN(std::string text, ReadTextFile(options.in));
  std::string token = TrimEnd(text, "\r\n ");
  crypto::Cleanse(text);
  if (token.empty()) return InvalidArgument(options.in.string() + " holds no token");
  Result<nlohmann::json> fields =
      keys::SealSecret(sealing, keys::kHubPkcs11KeyLabel, keys::kHubVaultTokenAad, AsBytes(token));
  crypto::Cleanse(token);
  if (!fields.has_value()) return fields.error();
  return keys::WriteSealedSecretFile(options.out, std::move(*fields));
}

}  // namespace coffre::cli
