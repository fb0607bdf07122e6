#pragma once
// HMAC-SHA-256 (RFC 2104) under a key held in SecretBytes. Stateless, thread-safe.

#include "common/bytes.h"
#include "common/result.h"
#include "crypto/secret_bytes.h"

namespace coffre::crypto {

constexpr size_t kHmacSha256Size = 32;

// The 32-byte MAC of `data`.
Result<Bytes> HmacSha256(const SecretBytes& key, ByteSpan data);

}  // namespace coffre::crypto
