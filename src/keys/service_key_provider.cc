#include "keys/service_key_provider.h"

#include "crypto/aes_key_wrap.h"
#include "crypto/root_key.h"

namespace coffre::keys {

Result<std::unique_ptr<ServiceKeyProvider>> ServiceKeyProvider::Create(
    const crypto::SecretBytes& service_key) {
  COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes copy, service_key.Clone());
  COFFRE_ASSIGN_OR_RETURN(auto root, crypto::RootKey::FromSecret(std::move(copy)));
  COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes kek, root->DeriveKey("service-managed-root"));
  return std::unique_ptr<ServiceKeyProvider>(new ServiceKeyProvider(std::move(kek)));
}

Result<crypto::WrappedKey> ServiceKeyProvider::Wrap(const crypto::SecretBytes& key) {
  COFFRE_ASSIGN_OR_RETURN(Bytes wrapped, crypto::AesKeyWrap(kek_.Reveal(), key.Reveal()));
  return crypto::WrappedKey{std::string(kServiceManagedKeyId), "A256KW", std::move(wrapped)};
}

Result<crypto::SecretBytes> ServiceKeyProvider::Unwrap(const crypto::WrappedKey& wrapped) {
  if (wrapped.key_id != kServiceManagedKeyId || wrapped.algorithm != "A256KW") {
    return crypto::OpenFailed();
  }
  return crypto::AesKeyUnwrap(kek_.Reveal(), wrapped.ciphertext);
}

Result<crypto::KeyDescription> ServiceKeyProvider::Describe() {
  return crypto::KeyDescription{"service-managed", "1", std::string(kServiceManagedKeyId),
                                crypto::KeyState::kEnabled, true};
}

}  // namespace coffre::keys
