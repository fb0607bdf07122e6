#pragma once
// What the hub reads from the bodies of Key Vault's 2xx replies (get key, wrapKey, unwrapKey),
// each read typed and without exceptions (common/json_fields.h). A body that is not what Key
// Vault sends is UNAVAILABLE "the vault's <operation> reply is malformed: field '...' must be
// ...": the vault, or whatever answers in its place, is not usable right now, which the key
// monitor treats as an unreachable vault, never as a reason to stop. Stateless, thread-safe.

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "common/bytes.h"
#include "common/result.h"
#include "crypto/key_provider.h"
#include "crypto/secret_bytes.h"

namespace coffre::keys {

struct KeyReply {
  crypto::KeyDescription description;
  std::string kty;  // "RSA", "oct-HSM", ...; may be empty
};

// GET /keys/{name}/{version}: the key's versioned kid, type, state at `now_s` (enabled, exp,
// nbf) and purge protection (attributes.recoveryLevel).
Result<KeyReply> ReadKeyReply(const nlohmann::json& body, int64_t now_s);

// The versioned kid and the wrapped bytes of a wrapKey reply ("kid", base64url "value").
Result<std::pair<std::string, Bytes>> ReadWrapReply(const nlohmann::json& body);

// The key of an unwrapKey reply ("value", base64url); the value is wiped in `body` as it is
// read. OpenFailed() if the value is not base64url.
Result<crypto::SecretBytes> ReadUnwrapReply(nlohmann::json& body);

}  // namespace coffre::keys
