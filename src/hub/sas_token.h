#pragma once
// Shared access signatures, exactly as Azure IoT Hub and its SDKs make and check them
// (docs/SECURITY.md, "What a service token's sr reaches"):
//   SharedAccessSignature sr=<resource>&sig=<signature>&se=<expiry>[&skn=<policy>]
//   sig = base64(HMAC-SHA256(base64-decoded key, <sr as sent> + "\n" + <se as sent>))
// The signature is checked over sr and se exactly as they arrive (SDKs differ in escaping), in
// constant time. Which key to check against (a device's, a policy's) is the registry's call.
// Stateless, thread-safe.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

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
// Whether a refusal of the two above was for a token signed right but expired (for the
// refusal counts of hub/hub_metrics.h; the caller is told the same either way).
bool IsSasExpiry(const Status& refusal);

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

// What a request acts on, as the path below the host: {"devices", "devB"} for a device,
// {"devices", "devB", "modules", "m1"} for its module, {} for the hub as a whole. Ids (device,
// module) compare exactly, as Azure's ids are case-sensitive; fixed words ("devices") do not.
// Each route's resource: docs/SECURITY.md, "What a service token's sr reaches".
struct SasResourceSegment {
  std::string text;
  bool is_id = false;
};
using SasResource = std::vector<SasResourceSegment>;

// devices/{device_id}[/modules/{module_id}]
SasResource DeviceResource(std::string_view device_id,
                           std::optional<std::string_view> module_id = std::nullopt);
// A request path ("/devices/devB/modules/m1?api-version=..."), percent-decoded segment by
// segment: every segment after "devices" or "modules" is an id, every other one a fixed word.
SasResource ResourceOfPath(std::string_view target);

// The scope a token's sr grants (decoded once, split on '/'): the host, then path segments.
// UNAUTHENTICATED if a segment is empty (one trailing '/' is allowed and ignored).
struct SasScope {
  std::string host;
  std::vector<std::string> path;
};
Result<SasScope> ParseSasScope(std::string_view resource);

// Azure's rule: sr bounds a token as a prefix of the resource's URI, by whole segments. The host
// is the caller's to check (case-insensitively, against the names the hub answers to).
bool ScopeCovers(const SasScope& scope, const SasResource& resource);

}  // namespace coffre::hub
