#pragma once
// DeviceAuthenticator: who a connecting device is, as Azure IoT Hub decides it for MQTT
// (iothub-protocol.md §1.7, §3.1): the user name names an accepted host and the device (and
// module), the client id matches it, the password is a SAS token whose audience is that device,
// signed with the device's primary or secondary key, not expired, and the device is enabled.
// Or, without a password, a TLS client certificate whose SHA-1 or SHA-256 thumbprint is the
// device's primary or secondary thumbprint (authentication type selfSigned).
// A module connects only as itself: a registered module of an existing, enabled device, with a
// token for host/devices/{id}/modules/{mid} signed by the module's own key (the device's key
// does not open it), or the module's certificate.
// A token signed by a shared access policy (skn) with DeviceConnect whose sr covers the device
// (or module) is accepted too, as Azure accepts it from protocol gateways.
// Thread-safe.

#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "hub/access_policies.h"
#include "hub/hub_metrics.h"
#include "hub/registry.h"

struct x509_st;

namespace coffre::hub {

struct DeviceCredentials {
  std::string_view client_id;
  std::string_view username;
  std::optional<std::string_view> password;  // the SAS token
  // The TLS client certificate's SHA-1 and SHA-256 thumbprints (hex), when one was presented.
  std::optional<std::string> certificate_sha1 = std::nullopt;
  std::optional<std::string> certificate_sha256 = std::nullopt;
  int64_t certificate_not_after = 0;  // seconds since the epoch
};

// Fills the credentials' certificate thumbprints and expiry from a TLS peer certificate
// (OpenSSL's X509; nullptr leaves them empty). The handshake accepted any certificate: whether
// it is the device's is AuthenticateMqtt's call.
void AddPeerCertificate(const x509_st* cert, DeviceCredentials& credentials);

struct AuthenticatedDevice {
  std::string device_id;
  std::optional<std::string> module_id;
  int64_t expires_at = 0;  // seconds since the epoch: close the session then
  // How it proved itself, as IoT Hub names it in iothub-connection-auth-method ("sas" for a
  // token, its own or a policy's; "x509Certificate" for a client certificate), and the
  // identity's generation id (iothub-connection-auth-generation-id).
  std::string auth_type = "sas";
  std::string generation_id = std::string();
};

// The parts of an IoT Hub MQTT user name "{host}/{device}[/{module}]/?{query}".
struct MqttUsername {
  std::string host;
  std::string device_id;
  std::optional<std::string> module_id;
  std::string query;
};
Result<MqttUsername> ParseMqttUsername(std::string_view username);

class DeviceAuthenticator {
 public:

  // registry and clock must outlive the authenticator. host_names: the names devices may use
  // (compared case-insensitively), e.g. {"localhost", "127.0.0.1"}.
  DeviceAuthenticator(Registry& registry, std::vector<std::string> host_names,
                      const Clock& clock)
      : registry_(registry), hosts_(std::move(host_names)), clock_(clock) {}
  // With policies (which must outlive the authenticator): DeviceConnect policy tokens too.
  DeviceAuthenticator(Registry& registry, AccessPolicies& policies,
                      std::vector<std::string> host_names, const Clock& clock)
      : registry_(registry), policies_(&policies), hosts_(std::move(host_names)),
        clock_(clock) {}

  // INVALID_ARGUMENT: malformed user name or password (CONNACK 4); FAILED_PRECONDITION: client
  // id and user name disagree (CONNACK 2); UNAUTHENTICATED: anything about the token or the
  // device (CONNACK 5), never saying which, as Azure does not.
  Result<AuthenticatedDevice> AuthenticateMqtt(const DeviceCredentials& credentials);

  // The HTTPS device API: a SAS token for exactly `device_id` (and module), or a DeviceConnect
  // policy token covering it (UNAUTHENTICATED otherwise).
  Result<AuthenticatedDevice> AuthenticateToken(std::string_view device_id,
                                                std::optional<std::string_view> module_id,
                                                std::string_view token);

  // Counts each refusal, by reason, in coffre_hub_auth_refusals_total (null: none); set before
  // the first call. `metrics` must outlive the authenticator.
  void CountRefusalsIn(HubMetrics* metrics) { metrics_ = metrics; }

 private:
  // UNAUTHENTICATED "Not authorized", whatever the reason (the client learns none), counted.
  Status Refuse(AuthRefusal why) const;
  bool AcceptedHost(std::string_view host) const;
  Result<AuthenticatedDevice> AuthenticateCertificate(const DeviceCredentials& c,
                                                      const MqttUsername& user);
  Result<AuthenticatedDevice> AuthenticatePolicyToken(std::string_view device_id,
                                                      std::optional<std::string_view> module_id,
                                                      std::string_view password, int64_t expiry);
  // The keys or thumbprints of an existing, enabled device, or of its registered module;
  // UNAUTHENTICATED for anything else.
  struct IdentityCredentials {
    AuthType auth_type = AuthType::kSas;
    std::string primary_key, secondary_key, primary_thumbprint, secondary_thumbprint;
    std::string generation_id;
  };
  Result<IdentityCredentials> LoadIdentity(std::string_view device_id,
                                           std::optional<std::string_view> module_id);

  Registry& registry_;
  AccessPolicies* policies_ = nullptr;  // nullable: no policy tokens
  HubMetrics* metrics_ = nullptr;       // nullable: refusals not counted
  std::vector<std::string> hosts_;
  const Clock& clock_;
};

}  // namespace coffre::hub
