#include "vault_keys.h"

#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/strings.h"
#include "keys/pkcs11_sealed_secret.h"
#include "keys/vault_key_provider.h"

namespace coffre {
namespace {

// The token in `file`: as written, or opened by the PKCS#11 token if it was sealed.
Result<std::string> ReadVaultToken(const std::string& file,
                                   const std::optional<hubservice::ServiceKeyToken>& token) {
  COFFRE_ASSIGN_OR_RETURN(std::string text, ReadTextFile(file));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (!keys::IsSealedSecretFile(j)) return TrimEnd(std::move(text), "\r\n ");
  if (!token.has_value()) {
    return FailedPrecondition("the vault token file " + file +
                              " is sealed by a PKCS#11 token: give --pkcs11-pin-file");
  }
  COFFRE_ASSIGN_OR_RETURN(keys::Pkcs11Sealing sealing, hubservice::TokenSealing(*token));
  COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes opened,
                          keys::OpenSealedSecret(j, sealing, keys::kHubVaultTokenAad,
                                                 "the vault token in " + file, 0));
  ByteSpan bytes = opened.Reveal();
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

}  // namespace

hub::KeyCustody::ProviderFactory VaultKeyProviders(
    std::optional<hubservice::ServiceKeyToken> token) {
  return [token](const hub::EncryptionSettings& s, std::chrono::milliseconds timeout)
             -> Result<std::shared_ptr<crypto::KeyProvider>> {
    COFFRE_ASSIGN_OR_RETURN(std::string vault_token, ReadVaultToken(s.vault_token_file, token));
    keys::VaultKeyProviderOptions options;
    options.key_uri = s.key_uri;
    options.ca_file = s.vault_ca_file;
    options.token = std::move(vault_token);
    options.timeout = timeout;
    COFFRE_ASSIGN_OR_RETURN(auto provider, keys::VaultKeyProvider::Create(std::move(options)));
    return std::shared_ptr<crypto::KeyProvider>(std::move(provider));
  };
}

}  // namespace coffre
