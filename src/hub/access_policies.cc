#include "hub/access_policies.h"

#include <strings.h>

#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "hub/sas_token.h"

namespace coffre::hub {
namespace {

using nlohmann::json;

constexpr std::string_view kPrefix = "policy/";

Result<std::string> RandomKey() {
  COFFRE_ASSIGN_OR_RETURN(auto raw, crypto::SecretBytes::Random(32));
  return Base64Encode(raw.Reveal());
}

Status NotAuthorized() {
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
                                                             Clock clock) {
  std::unique_ptr<AccessPolicies> p(new AccessPolicies(kv, keys, std::move(host_names), std::move(clock)));
  bool any = false;
  COFFRE_RETURN_IF_ERROR(kv.Scan(kPrefix, [&](std::string_view, ByteSpan) {
    any = true;
    return false;
  }));
  if (any) return p;
  const std::pair<const char*, uint32_t> defaults[] = {
      {"iothubowner", kRegistryRead | kRegistryWrite | kServiceConnect | kDeviceConnect},
      {"service", kServiceConnect},
      {"device", kDeviceConnect},
      {"registryRead", kRegistryRead},
      {"registryReadWrite", kRegistryRead | kRegistryWrite}};
  for (auto [name, rights] : defaults) {
    AccessPolicy policy{name, "", "", rights};
    COFFRE_ASSIGN_OR_RETURN(policy.primary_key, RandomKey());
    COFFRE_ASSIGN_OR_RETURN(policy.secondary_key, RandomKey());
    COFFRE_RETURN_IF_ERROR(p->Store(policy));
  }
  return p;
}

Status AccessPolicies::Store(const AccessPolicy& policy) {
  std::lock_guard<std::mutex> guard(mu_);
  if (!writer_ || writer_->exhausted()) {
    COFFRE_ASSIGN_OR_RETURN(writer_, keys_.StartWriter(kRegistryScope));
  }
  std::string row = std::string(kPrefix) + policy.name;
  std::string text = json{{"name", policy.name},
                          {"primaryKey", policy.primary_key},
                          {"secondaryKey", policy.secondary_key},
                          {"rights", policy.rights}}
                         .dump();
  Result<Bytes> sealed = writer_->Seal(AsBytes(row), AsBytes(text));
  crypto::Cleanse(text);
  if (!sealed.has_value()) return sealed.error();
  return kv_.Put(row, *sealed, /*sync=*/true);
}

Result<AccessPolicy> AccessPolicies::Get(const std::string& name) {
  std::string row = std::string(kPrefix) + name;
  Result<Bytes> sealed = kv_.Get(row);
  if (!sealed.has_value()) {
    if (sealed.error().code() == StatusCode::kNotFound) {
      return NotFound("The shared access policy '" + name + "' does not exist.");
    }
    return sealed.error();
  }
  COFFRE_ASSIGN_OR_RETURN(Bytes plain, keys_.reader().Open(*sealed, AsBytes(row)));
  json j = json::parse(AsChars(plain), nullptr, false);
  crypto::Cleanse(plain);
  if (!j.is_object()) return DataLoss("policy record " + name + " is malformed");
  return AccessPolicy{j.value("name", ""), j.value("primaryKey", ""), j.value("secondaryKey", ""),
                      j.value("rights", 0u)};
}

Result<std::vector<AccessPolicy>> AccessPolicies::List() {
  std::vector<std::string> names;
  COFFRE_RETURN_IF_ERROR(kv_.Scan(kPrefix, [&](std::string_view key, ByteSpan) {
    names.emplace_back(key.substr(kPrefix.size()));
    return true;
  }));
  std::vector<AccessPolicy> out;
  for (const auto& n : names) {
    COFFRE_ASSIGN_OR_RETURN(AccessPolicy p, Get(n));
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

Result<AccessPolicy> AccessPolicies::Authorize(std::string_view authorization, uint32_t required) {
  Result<SasToken> token = ParseSasToken(authorization);
  if (!token.has_value() || !token->key_name) return NotAuthorized();
  Result<SasAudience> audience = ParseSasAudience(token->resource);
  if (!audience.has_value() || !AcceptedHost(audience->host)) return NotAuthorized();
  Result<AccessPolicy> policy = Get(*token->key_name);
  if (!policy.has_value()) {
    if (policy.error().code() == StatusCode::kNotFound) return NotAuthorized();
    return policy.error();
  }
  if (!VerifySasTokenWithKeyPair(*token, policy->primary_key, policy->secondary_key, clock_()).ok()) {
    return NotAuthorized();
  }
  if ((policy->rights & required) != required) {
    return PermissionDenied("The policy '" + policy->name + "' lacks " +
                            RightsText(required & ~policy->rights) + ".");
  }
  return policy;
}

}  // namespace coffre::hub
