#pragma once
// RootKey: the hub root key, 256 random bits. It exists unwrapped only here, in the secure heap;
// on disk it is only ever stored wrapped by a KeyProvider (the customer's key). It wraps the data
// keys: rotating the customer key re-wraps this one key and no data.
//
// Data keys are wrapped as envelopes under the root key with key_id kRootKeyId and a random
// nonce; the AAD binds each wrapped data key to its DataKeyId, so a wrapped key cannot be
// swapped to another scope or epoch. Random nonces are safe here because data keys are few
// (one per writer incarnation): far under the 2^30 budget per key (docs/FORMAT.md).
// Thread-safe.

#include <memory>
#include <mutex>

#include "common/result.h"
#include "crypto/aes_gcm.h"
#include "crypto/data_key_store.h"
#include "crypto/key_provider.h"
#include "crypto/secret_bytes.h"

namespace coffre::crypto {

class RootKey {
 public:
  static Result<std::unique_ptr<RootKey>> Generate();
  static Result<std::unique_ptr<RootKey>> Unwrap(KeyProvider& provider, const WrappedKey& wrapped);
  // Adopts 32 key bytes unwrapped elsewhere (the vault's master key, unsealed by passphrase).
  static Result<std::unique_ptr<RootKey>> FromSecret(SecretBytes key);

  Result<WrappedKey> WrapWith(KeyProvider& provider) const;

  // A 32-byte key for one purpose, HKDF-SHA256(root key, info = "coffre/" + label). Keys for
  // different labels are independent; the same label always gives the same key.
  Result<SecretBytes> DeriveKey(std::string_view label) const;

  Result<Bytes> WrapDataKey(DataKeyId id, const SecretBytes& data_key);
  // OpenFailed() if `wrapped` was not made by this root key for `id`.
  Result<SecretBytes> UnwrapDataKey(DataKeyId id, ByteSpan wrapped);

 private:
  RootKey(SecretBytes key, std::unique_ptr<AesGcm> aead)
      : key_(std::move(key)), aead_(std::move(aead)) {}

  SecretBytes key_;
  std::mutex mu_;
  std::unique_ptr<AesGcm> aead_;  // guarded by mu_
};

}  // namespace coffre::crypto
