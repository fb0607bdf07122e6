#pragma once
// ServiceKeyProvider: the service-managed mode, for a hub without a customer-managed key. The
// hub root key is wrapped (A256KW) under a key derived from the operator's service key (HKDF,
// label "service-managed-root"). Weaker by design, and documented so: whoever holds the service
// key and the files reads everything, and no customer can revoke anything. A customer key can
// be turned on later without re-encrypting data (the root key is simply re-wrapped).
// Key id "coffre:service-managed/1". Thread-safe.

#include <memory>
#include <string_view>

#include "crypto/key_provider.h"

namespace coffre::keys {

inline constexpr std::string_view kServiceManagedKeyId = "coffre:service-managed/1";

class ServiceKeyProvider : public crypto::KeyProvider {
 public:
  static Result<std::unique_ptr<ServiceKeyProvider>> Create(const crypto::SecretBytes& service_key);

  Result<crypto::WrappedKey> Wrap(const crypto::SecretBytes& key) override;
  Result<crypto::SecretBytes> Unwrap(const crypto::WrappedKey& wrapped) override;
  Result<crypto::KeyDescription> Describe() override;

 private:
  explicit ServiceKeyProvider(crypto::SecretBytes kek) : kek_(std::move(kek)) {}
  crypto::SecretBytes kek_;
};

}  // namespace coffre::keys
