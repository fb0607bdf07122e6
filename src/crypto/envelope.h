#pragma once
// The envelope: a self-describing AES-256-GCM record, so data written today stays readable after
// the algorithm or the keys change. Layout byte by byte: docs/FORMAT.md.
//
//   version(1) algorithm(1) flags(2) key_id(4) epoch(8) nonce(12) [device_key(8)] | ciphertext | tag(16)
//
// device_key is there only with kEnvelopeFlagDeviceScope: the record is sealed under a key of
// that one device (per-device erasure, docs/FORMAT.md). The 28- or 36-byte header is authenticated with the caller's AAD (the record's identity), so neither
// the header nor the record can be moved or altered without detection. Readers accept only the
// allow-listed versions and algorithms, and every failure returns OpenFailed(). Stateless.

#include <array>
#include <cstdint>

#include "common/bytes.h"
#include "common/result.h"
#include "crypto/aes_gcm.h"

namespace coffre::crypto {

inline constexpr uint8_t kEnvelopeVersion1 = 1;
inline constexpr size_t kEnvelopeHeaderSize = 28;
inline constexpr size_t kDeviceKeyFieldSize = 8;
inline constexpr size_t kEnvelopeOverhead = kEnvelopeHeaderSize + kAesGcmTagSize;
inline constexpr size_t kDeviceEnvelopeOverhead = kEnvelopeOverhead + kDeviceKeyFieldSize;

enum class EnvelopeAlgorithm : uint8_t {
  kAes256Gcm = 1,
};

// Flag bits. A reader refuses any bit it does not know, so a record that needs one can never be
// misread by a reader that does not know it. Bit 1 is reserved and refused.
inline constexpr uint16_t kEnvelopeFlagDeviceScope = 1u << 0;   // device_key follows the nonce
inline constexpr uint16_t kEnvelopeFlagSegmentDigest = 1u << 1; // record is part of a digest chain
inline constexpr uint16_t kEnvelopeKnownFlags = kEnvelopeFlagDeviceScope;

// key_id names the key family: a table or partition scope, or kRootKeyId for data keys wrapped
// under the hub root key. epoch names the writer incarnation whose data key sealed the record.
inline constexpr uint32_t kRootKeyId = 0xFFFFFFFFu;

struct EnvelopeHeader {
  uint8_t version = kEnvelopeVersion1;
  EnvelopeAlgorithm algorithm = EnvelopeAlgorithm::kAes256Gcm;
  uint16_t flags = 0;
  uint32_t key_id = 0;
  uint64_t epoch = 0;
  GcmNonce nonce{};
  uint64_t device_key = 0;  // with kEnvelopeFlagDeviceScope only

  constexpr bool device_scoped() const { return (flags & kEnvelopeFlagDeviceScope) != 0; }
  constexpr size_t size() const { return kEnvelopeHeaderSize + (device_scoped() ? kDeviceKeyFieldSize : 0); }
  friend bool operator==(const EnvelopeHeader&, const EnvelopeHeader&) = default;
};

inline constexpr size_t SealedEnvelopeSize(size_t plaintext_size) {
  return plaintext_size + kEnvelopeOverhead;
}
inline constexpr size_t SealedEnvelopeSize(const EnvelopeHeader& header, size_t plaintext_size) {
  return plaintext_size + header.size() + kAesGcmTagSize;
}

// out.size() must be header.size().
void WriteEnvelopeHeader(const EnvelopeHeader& header, MutableByteSpan out);

// Parses and checks the header against the allow-list; OpenFailed() on anything else.
Result<EnvelopeHeader> ReadEnvelopeHeader(ByteSpan envelope);

// out.size() must be SealedEnvelopeSize(header, plaintext.size()).
Status SealEnvelope(AesGcm& aead, const EnvelopeHeader& header, ByteSpan aad, ByteSpan plaintext,
                    MutableByteSpan out);
Result<Bytes> SealEnvelope(AesGcm& aead, const EnvelopeHeader& header, ByteSpan aad,
                           ByteSpan plaintext);

// What an envelope opens to, in bytes (0 if it is too short to be one).
size_t OpenedEnvelopeSize(ByteSpan envelope);

// Opens with `aead`, which the caller chose from the header's key_id, epoch and device_key.
// out.size() must be OpenedEnvelopeSize(envelope).
Status OpenEnvelope(AesGcm& aead, ByteSpan envelope, ByteSpan aad, MutableByteSpan out);
Result<Bytes> OpenEnvelope(AesGcm& aead, ByteSpan envelope, ByteSpan aad);

}  // namespace coffre::crypto
