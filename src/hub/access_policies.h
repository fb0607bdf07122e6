#pragma once
// Shared access policies, as Azure IoT Hub has them: named key pairs with rights. A new hub gets
// Azure's defaults (iothubowner, service, device, registryRead, registryReadWrite) with random
// keys. Each policy is a record sealed by the customer layer. Service calls authenticate with a
// SAS token signed by a policy key (skn = the policy); the caller then needs the right the
// operation requires. Thread-safe.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "hub/hub_keys.h"
#include "hub/hub_metrics.h"
#include "hub/sas_token.h"
#include "hub/sealed_rows.h"
#include "storage/kv_store.h"

namespace coffre::hub {

enum Right : uint32_t {
  kRegistryRead = 1u << 0,
  kRegistryWrite = 1u << 1,
  kServiceConnect = 1u << 2,
  kDeviceConnect = 1u << 3,
};

std::string RightsText(uint32_t rights);  // "RegistryRead, RegistryWrite"

struct AccessPolicy {
  std::string name;
  std::string primary_key, secondary_key;  // base64 of 32 bytes
  uint32_t rights = 0;
};

class AccessPolicies {
 public:

  // kv, keys and clock must outlive the policies. Creates the default policies if there are none.
  static Result<std::unique_ptr<AccessPolicies>> Open(storage::KvStore& kv, HubKeys& keys,
                                                      std::vector<std::string> host_names,
                                                      const Clock& clock);

  Result<AccessPolicy> Get(const std::string& name);
  Result<std::vector<AccessPolicy>> List();

  // The policy that signed `authorization` (a SAS token), if it is valid for an accepted host,
  // its sr covers `resource` (a prefix by segment, as Azure bounds tokens; {} = the whole hub,
  // which only sr=host covers) and it holds every right in `required`. UNAUTHENTICATED for a
  // bad, expired, unknown or out-of-scope token; PERMISSION_DENIED for a valid one without the
  // right.
  // A refusal is counted as a service caller's (CountRefusalsIn).
  Result<AccessPolicy> Authorize(std::string_view authorization, uint32_t required,
                                 const SasResource& resource = {});
  // Authorize, not counted, with why a refusal was made in `why` (for DeviceAuthenticator, whose
  // gateways' policy tokens count as devices').
  Result<AccessPolicy> Check(std::string_view authorization, uint32_t required,
                             const SasResource& resource, AuthRefusal* why);

  // Counts refusals in coffre_hub_auth_refusals_total (null: none); `metrics` must outlive the
  // policies. Set before the first call.
  void CountRefusalsIn(HubMetrics* metrics) { metrics_ = metrics; }

 private:
  AccessPolicies(storage::KvStore& kv, HubKeys& keys, std::vector<std::string> hosts,
                 const Clock& clock)
      : rows_(kv, keys), hosts_(std::move(hosts)), clock_(clock) {}
  Status Store(const AccessPolicy& policy);
  Status StoreIfAbsent(const AccessPolicy& policy);  // a default, made by the first node
  bool AcceptedHost(std::string_view host) const;

  SealedRows rows_;
  std::vector<std::string> hosts_;
  const Clock& clock_;
  HubMetrics* metrics_ = nullptr;
};

}  // namespace coffre::hub
