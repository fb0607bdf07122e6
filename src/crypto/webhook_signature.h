#pragma once
// The signature on a webhook POST, so that a receiver can tell the sender's events from forged
// or replayed ones (docs/VAULT.md, "Events"):
//   Coffre-Signature: t=<unix seconds>,v1=<hex HMAC-SHA-256(secret, "<t>." + body)>
// The timestamp is signed with the body; a receiver refuses a signature older or newer than its
// tolerance, which bounds how long a captured request can be replayed. Several v1= values may
// be sent (a secret being changed); any one matching is enough. Stateless, thread-safe.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"
#include "crypto/secret_bytes.h"

namespace coffre::crypto {

inline constexpr std::string_view kWebhookSignatureHeader = "Coffre-Signature";
inline constexpr int64_t kWebhookToleranceSeconds = 300;

// The header's value for `body` sent at `unix_seconds`.
Result<std::string> SignWebhook(const SecretBytes& secret, int64_t unix_seconds,
                                std::string_view body);

// OK if `header` carries a v1 MAC of `body` under `secret` whose timestamp is within
// `tolerance_s` of `now`; UNAUTHENTICATED otherwise (the message says which check failed,
// never anything of the secret). MACs are compared in constant time.
Status VerifyWebhook(const SecretBytes& secret, std::string_view header, std::string_view body,
                     int64_t now, int64_t tolerance_s = kWebhookToleranceSeconds);

}  // namespace coffre::crypto
