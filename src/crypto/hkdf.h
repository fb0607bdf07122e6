#pragma once
// HKDF-SHA256 (RFC 5869, no salt): one 32-byte key per purpose from a secret key. Keys for
// different `info` are independent; the same inputs always give the same key. Stateless.

#include <string_view>

#include "common/result.h"
#include "crypto/secret_bytes.h"

namespace coffre::crypto {

Result<SecretBytes> HkdfSha256(const SecretBytes& key, std::string_view info);

}  // namespace coffre::crypto
