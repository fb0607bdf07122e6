#include "crypto/envelope.h"

#include <algorithm>
#include <cstring>

namespace coffre::crypto {

void WriteEnvelopeHeader(const EnvelopeHeader& h, MutableByteSpan out) {
  std::byte* p = out.data();
  p[0] = std::byte(h.version);
  p[1] = std::byte(static_cast<uint8_t>(h.algorithm));
  PutU16(p + 2, h.flags);
  PutU32(p + 4, h.key_id);
  PutU64(p + 8, h.epoch);
  std::memcpy(p + 16, h.nonce.data(), kAesGcmNonceSize);
  if (h.device_scoped()) PutU64(p + kEnvelopeHeaderSize, h.device_key);
}

Result<EnvelopeHeader> ReadEnvelopeHeader(ByteSpan envelope) {
  if (envelope.size() < kEnvelopeOverhead) return OpenFailed();
  const std::byte* p = envelope.data();
  EnvelopeHeader h;
  h.version = uint8_t(p[0]);
  h.algorithm = EnvelopeAlgorithm(uint8_t(p[1]));
  h.flags = GetU16(p + 2);
  h.key_id = GetU32(p + 4);
  h.epoch = GetU64(p + 8);
  std::memcpy(h.nonce.data(), p + 16, kAesGcmNonceSize);
  // The allow-list: one version, one algorithm, no reserved flag.
  if (h.version != kEnvelopeVersion1) return OpenFailed();
  if (h.algorithm != EnvelopeAlgorithm::kAes256Gcm) return OpenFailed();
  if ((h.flags & ~kEnvelopeKnownFlags) != 0) return OpenFailed();
  if (h.device_scoped()) {
    if (envelope.size() < kDeviceEnvelopeOverhead) return OpenFailed();
    h.device_key = GetU64(p + kEnvelopeHeaderSize);
  }
  return h;
}

Status SealEnvelope(AesGcm& aead, const EnvelopeHeader& header, ByteSpan aad, ByteSpan plaintext,
                    MutableByteSpan out) {
  if (out.size() != SealedEnvelopeSize(header, plaintext.size())) {
    return InvalidArgument("envelope seal: output size must be plaintext size + header + 16");
  }
  auto head = out.first(header.size());
  WriteEnvelopeHeader(header, head);
  return aead.Seal(header.nonce, {ByteSpan(head), aad}, plaintext, out.subspan(header.size()));
}

Result<Bytes> SealEnvelope(AesGcm& aead, const EnvelopeHeader& header, ByteSpan aad,
                           ByteSpan plaintext) {
  Bytes out(SealedEnvelopeSize(header, plaintext.size()));
  COFFRE_RETURN_IF_ERROR(SealEnvelope(aead, header, aad, plaintext, out));
  return out;
}

size_t OpenedEnvelopeSize(ByteSpan envelope) {
  Result<EnvelopeHeader> h = ReadEnvelopeHeader(envelope);
  return h.has_value() ? envelope.size() - h->size() - kAesGcmTagSize : 0;
}

Status OpenEnvelope(AesGcm& aead, ByteSpan envelope, ByteSpan aad, MutableByteSpan out) {
  COFFRE_ASSIGN_OR_RETURN(EnvelopeHeader h, ReadEnvelopeHeader(envelope));
  if (out.size() != envelope.size() - h.size() - kAesGcmTagSize) return OpenFailed();
  return aead.Open(h.nonce, {envelope.first(h.size()), aad}, envelope.subspan(h.size()), out);
}

Result<Bytes> OpenEnvelope(AesGcm& aead, ByteSpan envelope, ByteSpan aad) {
  if (envelope.size() < kEnvelopeOverhead) return OpenFailed();
  Bytes out(OpenedEnvelopeSize(envelope));
  COFFRE_RETURN_IF_ERROR(OpenEnvelope(aead, envelope, aad, out));
  return out;
}

}  // namespace coffre::crypto
