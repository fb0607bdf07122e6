#pragma once
// Shared access signatures, exactly as Azure IoT Hub and its SDKs make and check them
// (../shared/specs/iothub-protocol.md §1.2-1.7):
//   SharedAccessSignature sr=<resource>&sig=<signature>&se=<expiry>[&skn=<policy>]
//   sig = base64(HMAC-SHA256(base64-decoded key, <sr as sent> + "\n" + <se as sent>))
// The signature is checked over sr and se exactly as they arrive (SDKs differ in escaping), in
// constant time. Which key to check against (a device's, a policy's) is the registry's call.
// Stateless, thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/result.h"
#include "crypto/secret_bytes.h"

namespace coffre::hub {

// Azure's own validators allow five minutes of clock skew.
inline constexpr int64_t kSasClockSkewSeconds = 300;

struct SasToken {
  std::string raw_resource;  // sr as sent (still percent-encoded): what was signed
  std::string raw_expiry;    // se as sent
  std::string resource;      // sr decoded: "host/devices/dev-01"
  int64_t expiry = 0;        // seconds since the epoch
  Bytes signature;           // sig decoded (32 bytes)
  std::optional<std::string> key_name;  // skn: the policy, absent for device keys
};

// UNAUTHENTICATED for anything that is not a well-formed token (the caller answers 401 or
// CONNACK 5 either way, and never says which part was wrong).
Result<SasToken> ParseSasToken(std::string_view text);

// OK if `token` was signed with `key` and is not expired at `now` (give or take the skew);
// UNAUTHENTICATED otherwise.
Status VerifySasToken(const SasToken& token, const crypto::SecretBytes& key, int64_t now);

// OK if `token` verifies with either key of a pair given as base64 (a device's or a policy's
// primary and secondary key); UNAUTHENTICATED otherwise.
Status VerifySasTokenWithKeyPair(const SasToken& token, const std::string& primary_b64,
                                 const std::string& secondary_b64, int64_t now);

// A token as the SDKs make it: a device token for `resource` ("host/devices/id"), which is
// percent-encoded the SDKs' way, or a policy token when `key_name` is set (resource raw, as the
// service SDK sends a bare host name).
Result<std::string> MakeSasToken(std::string_view resource, const crypto::SecretBytes& key,
                                 int64_t expiry,
                                 std::optional<std::string_view> key_name = std::nullopt);

// The audience of a token: host, and the device (and module) it is scoped to, if any.
struct SasAudience {
  std::string host;
  std::optional<std::string> device_id;
  std::optional<std::string> module_id;
};
// UNAUTHENTICATED unless the resource is "host", "host/devices/{id}" or
// "host/devices/{id}/modules/{mid}".
Result<SasAudience> ParseSasAudience(std::string_view resource);

}  // namespace coffre::hub
