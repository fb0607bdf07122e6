#include "crypto/root_key.h"

#include <cstring>

#include "crypto/envelope.h"
#include "crypto/hkdf.h"
#include "crypto/ossl.h"
#include "crypto/random.h"

namespace coffre::crypto {
namespace {

// AAD of a wrapped data key: a label and the DataKeyId, big-endian.
struct DataKeyAad {
  explicit DataKeyAad(DataKeyId id) {
    std::memcpy(bytes, "coffre-dek-v1", 13);
    PutU32(bytes + 13, id.scope);
    PutU64(bytes + 17, id.epoch);
  }
  ByteSpan span() const { return {bytes, sizeof bytes}; }
  std::byte bytes[25];
};

}  // namespace

Result<std::unique_ptr<RootKey>> RootKey::FromSecret(SecretBytes key) {
  COFFRE_ASSIGN_OR_RETURN(auto aead, AesGcm::Create(key));
  return std::unique_ptr<RootKey>(new RootKey(std::move(key), std::move(aead)));
}

Result<std::unique_ptr<RootKey>> RootKey::Generate() {
  COFFRE_ASSIGN_OR_RETURN(SecretBytes key, SecretBytes::Random(kAesGcmKeySize));
  return FromSecret(std::move(key));
}

Result<std::unique_ptr<RootKey>> RootKey::Unwrap(KeyProvider& provider,
                                                 const WrappedKey& wrapped) {
  COFFRE_ASSIGN_OR_RETURN(SecretBytes key, provider.Unwrap(wrapped));
  if (key.size() != kAesGcmKeySize) return OpenFailed();
  return FromSecret(std::move(key));
}

Result<WrappedKey> RootKey::WrapWith(KeyProvider& provider) const { return provider.Wrap(key_); }

Result<SecretBytes> RootKey::DeriveKey(std::string_view label) const {
  return HkdfSha256(key_, "coffre/" + std::string(label));
}

Result<Bytes> RootKey::WrapDataKey(DataKeyId id, const SecretBytes& data_key) {
  EnvelopeHeader header;
  header.key_id = kRootKeyId;
  header.epoch = 0;
  COFFRE_RETURN_IF_ERROR(RandomBytes(header.nonce));
  DataKeyAad aad(id);
  std::lock_guard<std::mutex> guard(mu_);
  return SealEnvelope(*aead_, header, aad.span(), data_key.Reveal());
}

Result<SecretBytes> RootKey::UnwrapDataKey(DataKeyId id, ByteSpan wrapped) {
  COFFRE_ASSIGN_OR_RETURN(EnvelopeHeader header, ReadEnvelopeHeader(wrapped));
  if (header.key_id != kRootKeyId ||
      wrapped.size() != SealedEnvelopeSize(kAesGcmKeySize)) {
    return OpenFailed();
  }
  COFFRE_ASSIGN_OR_RETURN(SecretBytes key, SecretBytes::Allocate(kAesGcmKeySize));
  DataKeyAad aad(id);
  std::lock_guard<std::mutex> guard(mu_);
  COFFRE_RETURN_IF_ERROR(OpenEnvelope(*aead_, wrapped, aad.span(), key.RevealMutable()));
  return key;
}

}  // namespace coffre::crypto
