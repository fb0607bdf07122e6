#include "vault_keys.h"

#include "common/files.h"
#include "common/strings.h"
#include "keys/vault_key_provider.h"

namespace coffre {

hub::KeyCustody::ProviderFactory VaultKeyProviders() {
  return [](const hub::EncryptionSettings& s,
            std::chrono::milliseconds timeout) -> Result<std::shared_ptr<crypto::KeyProvider>> {
    COFFRE_ASSIGN_OR_RETURN(std::string token, ReadTextFile(s.vault_token_file));
    keys::VaultKeyProviderOptions options;
    options.key_uri = s.key_uri;
    options.ca_file = s.vault_ca_file;
    options.token = TrimEnd(std::move(token), "\r\n ");
    options.timeout = timeout;
    COFFRE_ASSIGN_OR_RETURN(auto provider, keys::VaultKeyProvider::Create(std::move(options)));
    return std::shared_ptr<crypto::KeyProvider>(std::move(provider));
  };
}

}  // namespace coffre
