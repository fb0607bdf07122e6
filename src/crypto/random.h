#pragma once
// Non-secret random bytes (nonces, ids) from OpenSSL's public DRBG. Keys use SecretBytes::Random.
// Thread-safe.

#include "common/bytes.h"
#include "common/status.h"

namespace coffre::crypto {

Status RandomBytes(MutableByteSpan out);

}  // namespace coffre::crypto
