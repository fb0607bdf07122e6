#include "hub/access_policies.h"

#include <strings.h>

#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "hub/identity_checks.h"
#include "hub/sas_token.h"

namespace coffre::hub {
namespace {

using nlohmann::json;

constexpr std::string_view kPolicyPrefix = "policy/";

Status InvalidServiceSignature() {
  return Unauthenticated("The shared access signature is not valid for this hub.");
}

}  // namespace

std::string RightsText(uint32_t rights) {
  std::string out;
  const std::pair<uint32_t, const char*> names[] = {{kRegistryRead, "RegistryRead"},
                                                    {kRegistryWrite, "RegistryWrite"},
                                                    {kServiceConnect, "ServiceConnect"},
                                                    {kDeviceConnect, "DeviceConnect"}};
  for (auto [bit, name] : names) {
    if (rights & bit) out += (out.empty() ? "" : ", ") + std::string(name);
  }
  return out;
}

Result<std::unique_ptr<AccessPolicies>> AccessPolicies::Open(storage::KvStore& kv, HubKeys& keys,
                                                             std::vector<std::string> host_names,
                                                             const Clock& clock) {
  std::unique_ptr<AccessPolicies> p(new AccessPolicies(kv, keys, std::move(host_names), clock));
  COFFRE_ASSIGN_OR_RETURN(std::vector<std::string> existing, p->rows_.Rows(kPolicyPrefix, 1));
  if (!existing.empty()) return p;
  const std::pair<const char*, uint32_t> defaults[] = {
      {"iothubowner", kRegistryRead | kRegistryWrite | kServiceConnect | kDeviceConnect},
      {"service", kServiceConnect},
      {"device", kDeviceConnect},
      {"registryRead", kRegistryRead},
      {"registryReadWrite", kRegistryRead | kRegistryWrite}};
  for (auto [name, rights] : defaults) {
    AccessPolicy policy{name, "", "", rights};
    COFFRE_ASSIGN_OR_RETURN(policy.primary_key, identity::RandomKey());
    COFFRE_ASSIGN_OR_RETURN(policy.secondary_key, identity::RandomKey());
    COFFRE_RETURN_IF_ERROR(p->StoreIfAbsent(policy));
  }
  return p;
}

namespace {

json PolicyRecord(const AccessPolicy& policy) {
  return json{{"name", policy.name},
              {"primaryKey", policy.primary_key},
              {"secondaryKey", policy.secondary_key},
              {"rights", policy.rights}};
}

}  // namespace

Status AccessPolicies::Store(const AccessPolicy& policy) {
  return rows_.Store(std::string(kPolicyPrefix) + policy.name, PolicyRecord(policy));
}

Status AccessPolicies::StoreIfAbsent(const AccessPolicy& policy) {
  // Of two hub nodes starting on a new store, the first one's keys stay.
  Status made = rows_.Update(std::string(kPolicyPrefix) + policy.name,
                             [&](Result<json> stored) -> Result<std::optional<json>> {
                               if (stored.has_value()) return AlreadyExists("made already");
                               if (stored.error().code() != StatusCode::kNotFound) {
                                 return stored.error();
                               }
                               return std::optional<json>(PolicyRecord(policy));
                             });
  return made.code() == StatusCode::kAlreadyExists ? Status::Ok() : made;
}

Result<AccessPolicy> AccessPolicies::Get(const std::string& name) {
  Result<json> j = rows_.Load(std::string(kPolicyPrefix) + name);
  if (!j.has_value()) {
    if (j.error().code() == StatusCode::kNotFound) {
      return NotFound("The shared access policy '" + name + "' does not exist.");
    }
    return j.error();
  }
  return AccessPolicy{j->value("name", ""), j->value("primaryKey", ""),
                      j->value("secondaryKey", ""), j->value("rights", 0u)};
}

Result<std::vector<AccessPolicy>> AccessPolicies::List() {
  COFFRE_ASSIGN_OR_RETURN(std::vector<std::string> rows, rows_.Rows(kPolicyPrefix));
  std::vector<AccessPolicy> out;
  for (const auto& row : rows) {
    COFFRE_ASSIGN_OR_RETURN(AccessPolicy p, Get(row.substr(kPolicyPrefix.size())));
    out.push_back(std::move(p));
  }
  return out;
}

bool AccessPolicies::AcceptedHost(std::string_view host) const {
  for (const std::string& h : hosts_) {
    if (h.size() == host.size() && ::strncasecmp(h.data(), host.data(), h.size()) == 0) return true;
  }
  return false;
}

Result<AccessPolicy> AccessPolicies::Authorize(std::string_view authorization, uint32_t required,
                                               const SasResource& resource) {
  AuthRefusal why = AuthRefusal::kSignature;
  Result<AccessPolicy> policy = Check(authorization, required, resource, &why);
  StatusCode code = policy.has_value() ? StatusCode::kOk : policy.error().code();
  if (metrics_ != nullptr &&
      (code == StatusCode::kUnauthenticated || code == StatusCode::kPermissionDenied)) {
    metrics_->Refused(Caller::kService, why);
  }
  return policy;
}

Result<AccessPolicy> AccessPolicies::Check(std::string_view authorization, uint32_t required,
                                           const SasResource& resource, AuthRefusal* why) {
  auto refuse = [why](AuthRefusal reason, Status status) {
    *why = reason;
    return status;
  };
  Result<SasToken> token = ParseSasToken(authorization);
  if (!token.has_value() || !token->key_name) {
    return refuse(AuthRefusal::kMalformed, InvalidServiceSignature());
  }
  Result<SasScope> scope = ParseSasScope(token->resource);
  if (!scope.has_value()) return refuse(AuthRefusal::kMalformed, InvalidServiceSignature());
  if (!AcceptedHost(scope->host)) return refuse(AuthRefusal::kHost, InvalidServiceSignature());
  Result<AccessPolicy> policy = Get(*token->key_name);
  if (!policy.has_value()) {
    if (policy.error().code() == StatusCode::kNotFound) {
      return refuse(AuthRefusal::kUnknownIdentity, InvalidServiceSignature());
    }
    return policy.error();
  }
  Status verified = VerifySasTokenWithKeyPair(*token, policy->primary_key, policy->secondary_key,
                                              clock_.NowSeconds());
  if (!verified.ok()) {
    return refuse(IsSasExpiry(verified) ? AuthRefusal::kExpired : AuthRefusal::kSignature,
                  InvalidServiceSignature());
  }
  // Checked after the signature, so that an unsigned sr learns nothing about the hub's routes.
  if (!ScopeCovers(*scope, resource)) {
    return refuse(AuthRefusal::kScope, Unauthenticated("The shared access signature's resource (sr) does not cover this request."));
  }
  if ((policy->rights & required) != required) {
    return refuse(AuthRefusal::kPermission,
                  PermissionDenied("The policy '" + policy->name + "' lacks " +
                                   RightsText(required & ~policy->rights) + "."));
  }
  return policy;
}

}  // namespace coffre::hub
