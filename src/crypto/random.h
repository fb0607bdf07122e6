#pragma once
// Non-secret random bytes (nonces, ids) from OpenSSL's public DRBG. Keys use SecretBytes::Random.
// Thread-safe.

#include <string>

#include "common/bytes.h"
#include "common/result.h"
#include "common/status.h"

namespace coffre::crypto {

Status RandomBytes(MutableByteSpan out);

// A random (version 4) UUID in lower-case hex: "0f8e3c1a-...-...".
Result<std::string> RandomUuid();

}  // namespace coffre::crypto
