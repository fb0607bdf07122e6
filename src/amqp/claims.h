#pragma once
// Claims: what a connection may do, as put on it by `$cbs` put-token (or SASL PLAIN), and the
// check of the tokens that carry them. A claim is a verified SAS token's scope (host, path
// segments), its rights and its expiry; a link needs a claim whose scope is a whole-segment prefix
// of the link's resource, with the rights, unexpired. Azure's two signing conventions are both
// accepted (the signed text is always "sr as sent\nse as sent"; the key differs):
// - IoT Hub style (service, device, the redirect's PLAIN password): HMAC key = the base64-decoded
//   policy or device key; checked by hub::AccessPolicies and hub::DeviceAuthenticator.
// - Event Hubs style (@azure/event-hubs): sr = the url-encoded "sb://host[:port]/path", HMAC key =
//   the key's base64 text itself (its ASCII bytes), skn = the policy.
// Verification is stateless apart from the hub's policies and registry; thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace coffre::hub {
class AccessPolicies;
class DeviceAuthenticator;
}  // namespace coffre::hub

namespace coffre::amqp {

struct Claim {
  std::vector<std::string> path;  // decoded segments below the host
  bool case_insensitive = false;  // Event Hubs names compare case-insensitively
  uint32_t rights = 0;            // hub::Right bits
  int64_t expiry = 0;             // seconds since the epoch
  std::optional<std::string> device_id, module_id;  // a device (or module) token
  std::string key_name;                             // the policy, empty for device tokens
};

// What a link needs: its resource as path segments below the host, and rights.
struct ClaimNeed {
  std::vector<std::string> path;
  uint32_t rights = 0;
};

// True if `claim` grants `need` at `now` (seconds).
bool Grants(const Claim& claim, const ClaimNeed& need, int64_t now);

// The claims of one connection (bounded: a put-token for a scope already held replaces it).
class ClaimSet {
 public:
  static constexpr size_t kMaxClaims = 64;
  void Add(Claim claim);
  bool Grants(const ClaimNeed& need, int64_t now) const;
  const Claim* Find(const ClaimNeed& need, int64_t now) const;
  size_t size() const { return claims_.size(); }

 private:
  std::vector<Claim> claims_;
};

class TokenVerifier {
 public:
  // host_names: the names the hub answers to (compared case-insensitively, port ignored).
  TokenVerifier(hub::AccessPolicies& policies, hub::DeviceAuthenticator* devices,
                std::vector<std::string> host_names, const Clock& clock)
      : policies_(policies), devices_(devices), hosts_(std::move(host_names)), clock_(clock) {}
  // UNAUTHENTICATED for a malformed, wrongly signed, expired or foreign token; PERMISSION_DENIED
  // for a valid one whose policy lacks every right a claim could use.
  Result<Claim> Verify(std::string_view token) const;
  const Clock& clock() const { return clock_; }

 private:
  Result<Claim> VerifyEventHubsStyle(std::string_view token) const;
  bool AcceptedHost(std::string_view host) const;
  hub::AccessPolicies& policies_;
  hub::DeviceAuthenticator* devices_;
  std::vector<std::string> hosts_;
  const Clock& clock_;
};

// "sb://Host:5671/hub/ConsumerGroups/$Default" -> host "Host", path {hub, ConsumerGroups,
// $Default}; also without the scheme ("host/messages/events"). nullopt if malformed.
struct ParsedAudience {
  std::string host;
  std::vector<std::string> path;
};
std::optional<ParsedAudience> ParseAudience(std::string_view decoded);

bool EqualsIgnoreCase(std::string_view a, std::string_view b);

}  // namespace coffre::amqp
