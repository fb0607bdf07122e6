#include "crypto/envelope_reader.h"

#include "crypto/envelope.h"

namespace coffre::crypto {

Result<AesGcm*> EnvelopeReader::KeyFor(DataKeyId id) {
  auto it = keys_.find(id);
  if (it != keys_.end()) return it->second.get();
  Result<Bytes> wrapped = store_.GetWrapped(id);
  if (!wrapped.has_value()) {
    if (wrapped.error().code() == StatusCode::kNotFound) return OpenFailed();
    return wrapped.error();
  }
  COFFRE_ASSIGN_OR_RETURN(SecretBytes key, root_.UnwrapDataKey(id, *wrapped));
  COFFRE_ASSIGN_OR_RETURN(auto aead, AesGcm::Create(key));
  AesGcm* raw = aead.get();
  keys_.emplace(id, std::move(aead));
  return raw;
}

Status EnvelopeReader::Open(ByteSpan envelope, ByteSpan aad, MutableByteSpan out) {
  COFFRE_ASSIGN_OR_RETURN(EnvelopeHeader header, ReadEnvelopeHeader(envelope));
  if (header.key_id == kRootKeyId) return OpenFailed();  // wrapped keys are not records
  std::lock_guard<std::mutex> guard(mu_);
  COFFRE_ASSIGN_OR_RETURN(AesGcm * aead, KeyFor({header.key_id, header.epoch}));
  return OpenEnvelope(*aead, envelope, aad, out);
}

Result<Bytes> EnvelopeReader::Open(ByteSpan envelope, ByteSpan aad) {
  if (envelope.size() < kEnvelopeOverhead) return OpenFailed();
  Bytes out(envelope.size() - kEnvelopeOverhead);
  COFFRE_RETURN_IF_ERROR(Open(envelope, aad, out));
  return out;
}

void EnvelopeReader::Forget() {
  std::lock_guard<std::mutex> guard(mu_);
  keys_.clear();
}

size_t EnvelopeReader::cached_keys() const {
  std::lock_guard<std::mutex> guard(mu_);
  return keys_.size();
}

}  // namespace coffre::crypto
