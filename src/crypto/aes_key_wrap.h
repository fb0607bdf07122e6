#pragma once
// AES Key Wrap (RFC 3394, JOSE "A128KW"/"A192KW"/"A256KW" by KEK size) through OpenSSL.
// Unwrap checks the RFC's integrity value; every unwrap failure is OpenFailed(). Stateless.

#include "common/bytes.h"
#include "common/result.h"
#include "crypto/secret_bytes.h"

namespace coffre::crypto {

inline constexpr size_t kKeyWrapOverhead = 8;

// `key` must be at least 16 bytes and a multiple of 8; `kek` 16, 24 or 32 bytes.
Result<Bytes> AesKeyWrap(ByteSpan kek, ByteSpan key);
Result<SecretBytes> AesKeyUnwrap(ByteSpan kek, ByteSpan wrapped);

}  // namespace coffre::crypto
