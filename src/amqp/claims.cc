#include "amqp/claims.h"

#include <algorithm>

#include "common/encoding.h"
#include "common/strings.h"
#include "crypto/secret_bytes.h"
#include "hub/access_policies.h"
#include "hub/device_auth.h"
#include "hub/sas_token.h"

namespace coffre::amqp {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool Grants(const Claim& claim, const ClaimNeed& need, int64_t now) {
  if (claim.expiry <= now) return false;
  if ((claim.rights & need.rights) != need.rights) return false;
  if (claim.path.size() > need.path.size()) return false;
  for (size_t i = 0; i < claim.path.size(); ++i) {
    bool same = claim.case_insensitive ? EqualsIgnoreCase(claim.path[i], need.path[i])
                                       : claim.path[i] == need.path[i];
    if (!same) return false;
  }
  return true;
}

void ClaimSet::Add(Claim claim) {
  for (Claim& held : claims_) {
    if (held.path == claim.path && held.key_name == claim.key_name &&
        held.device_id == claim.device_id && held.module_id == claim.module_id) {
      held = std::move(claim);
      return;
    }
  }
  // Past the bound, the claim that expires first makes room.
  if (claims_.size() >= kMaxClaims) {
    auto first = std::min_element(claims_.begin(), claims_.end(),
                                  [](const Claim& a, const Claim& b) { return a.expiry < b.expiry; });
    claims_.erase(first);
  }
  claims_.push_back(std::move(claim));
}

const Claim* ClaimSet::Find(const ClaimNeed& need, int64_t now) const {
  for (const Claim& c : claims_) {
    if (amqp::Grants(c, need, now)) return &c;
  }
  return nullptr;
}

bool ClaimSet::Grants(const ClaimNeed& need, int64_t now) const { return Find(need, now) != nullptr; }

std::optional<ParsedAudience> ParseAudience(std::string_view decoded) {
  std::string_view rest = decoded;
  size_t scheme = rest.find("://");
  if (scheme != std::string_view::npos) rest.remove_prefix(scheme + 3);
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  std::string_view host = authority.substr(0, authority.find(':'));
  if (host.empty()) return std::nullopt;
  ParsedAudience out{std::string(host), {}};
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (!rest.empty()) {
    for (std::string_view part : Split(rest, '/')) {
      if (part.empty()) return std::nullopt;
      out.path.emplace_back(part);
    }
  }
  return out;
}

bool TokenVerifier::AcceptedHost(std::string_view host) const {
  return std::any_of(hosts_.begin(), hosts_.end(),
                     [&](const std::string& h) { return EqualsIgnoreCase(h, host); });
}

Result<Claim> TokenVerifier::Verify(std::string_view token) const {
  COFFRE_ASSIGN_OR_RETURN(hub::SasToken parsed, hub::ParseSasToken(token));
  // An expired token is refused at put-token (401), whatever its kind, as Azure does; a claim
  // that expires later is dropped by the links' guards.
  if (parsed.expiry <= clock_.NowSeconds()) return Unauthenticated("the token has expired");
  if (parsed.resource.size() >= 5 && EqualsIgnoreCase(parsed.resource.substr(0, 5), "sb://")) {
    return VerifyEventHubsStyle(token);
  }
  std::optional<ParsedAudience> audience = ParseAudience(parsed.resource);
  if (!audience || !AcceptedHost(audience->host)) {
    return Unauthenticated("the token's audience is not this hub");
  }
  Claim claim;
  claim.path = audience->path;
  claim.expiry = parsed.expiry;
  if (parsed.key_name) {
    // A policy token: AccessPolicies checks signature, expiry, host and scope (its own).
    hub::SasResource own;
    for (const std::string& s : audience->path) own.push_back({s, true});
    COFFRE_ASSIGN_OR_RETURN(hub::AccessPolicy policy, policies_.Authorize(token, 0, own));
    claim.rights = policy.rights;
    claim.key_name = policy.name;
    return claim;
  }
  if (devices_ == nullptr) return Unauthenticated("device tokens are not accepted here");
  COFFRE_ASSIGN_OR_RETURN(hub::SasAudience device, hub::ParseSasAudience(parsed.resource));
  if (!device.device_id) return Unauthenticated("the token names no policy and no device");
  std::optional<std::string_view> module;
  if (device.module_id) module = *device.module_id;
  COFFRE_ASSIGN_OR_RETURN(hub::AuthenticatedDevice who,
                          devices_->AuthenticateToken(*device.device_id, module, token));
  claim.rights = hub::kDeviceConnect;
  claim.device_id = who.device_id;
  claim.module_id = who.module_id;
  return claim;
}

Result<Claim> TokenVerifier::VerifyEventHubsStyle(std::string_view token) const {
  COFFRE_ASSIGN_OR_RETURN(hub::SasToken parsed, hub::ParseSasToken(token));
  std::optional<ParsedAudience> audience = ParseAudience(parsed.resource);
  if (!audience || !AcceptedHost(audience->host) || !parsed.key_name) {
    return Unauthenticated("the token's audience is not this hub");
  }
  Result<hub::AccessPolicy> policy = policies_.Get(*parsed.key_name);
  if (!policy.has_value()) {
    if (policy.error().code() == StatusCode::kNotFound) {
      return Unauthenticated("the token is not valid");
    }
    return policy.error();
  }
  int64_t now = clock_.NowSeconds();
  bool valid = false;
  for (const std::string* key : {&policy->primary_key, &policy->secondary_key}) {
    if (key->empty()) continue;
    // Event Hubs signs with the key's text, not the bytes it encodes.
    auto bytes = std::as_bytes(std::span(key->data(), key->size()));
    COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes secret, crypto::SecretBytes::CopyOf(bytes));
    if (hub::VerifySasToken(parsed, secret, now).ok()) valid = true;
  }
  if (!valid) return Unauthenticated("the token is not valid");
  if ((policy->rights & hub::kServiceConnect) == 0) {
    return PermissionDenied("the policy has no ServiceConnect right");
  }
  Claim claim;
  claim.path = audience->path;
  claim.case_insensitive = true;
  claim.expiry = parsed.expiry;
  claim.rights = policy->rights;
  claim.key_name = policy->name;
  return claim;
}

}  // namespace coffre::amqp
