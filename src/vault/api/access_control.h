#pragma once
// AccessControl: principals, their bearer tokens and their key permissions (Azure access-policy
// names). Tokens are 256-bit random strings shown once; only their SHA-256 is stored (sealed,
// like every vault record), and it is compared in constant time. Every request re-reads the
// principal, so a revoked permission takes effect on the very next request. A principal added,
// removed, or given other permissions is published as VaultAccessPolicyChanged.
// Thread-safe.

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "vault/keys/key_events.h"
#include "vault/seal/sealed_store.h"

namespace coffre::vault {

// Azure Key Vault key permissions, in their canonical spelling.
const std::vector<std::string>& AllKeyPermissions();
// "wrapkey" -> "wrapKey"; INVALID_ARGUMENT for unknown names.
Result<std::string> CanonicalPermission(std::string_view name);

struct Principal {
  std::string name;
  std::set<std::string> permissions;
  bool admin = false;  // may manage principals (the vault owner)
  // Unset: the permissions hold on every key. Set: only on these keys (lower-case names), as
  // an Azure RBAC role assignment scoped to keys; operations on the vault as a whole (list,
  // restore) are then refused.
  std::optional<std::set<std::string>> key_scope;
  bool Can(const std::string& permission) const { return permissions.count(permission) > 0; }
  bool Scoped() const { return key_scope.has_value(); }
  bool InScope(std::string_view key) const;  // case-insensitive
};

struct PrincipalUpdate {
  Principal principal;
  std::optional<std::string> token;  // set when a token was issued by this call
};

class AccessControl {
 public:
  // store, clock (token expiry, event times) and events, if set, must outlive this object.
  explicit AccessControl(SealedStore& store, const Clock& clock = SystemClock(),
                         KeyEventSink* events = nullptr)
      : store_(store), clock_(clock), events_(events) {}

  // UNAUTHENTICATED for an unknown or expired token.
  Result<Principal> Authenticate(std::string_view token);

  // Creates the principal (issuing a token) or replaces its permissions; `admin` unset keeps
  // the current value (false for a new principal); issues a new token (revoking the old one)
  // when rotate_token is set. A token issued with `token_ttl_seconds` expires after that long.
  // `key_scope` replaces the principal's scope like `permissions` (unset: every key); its
  // names must be valid key names (INVALID_ARGUMENT) and are kept in lower case.
  Result<PrincipalUpdate> SetPrincipal(
      const std::string& name, std::set<std::string> permissions, std::optional<bool> admin,
      bool rotate_token, std::optional<int64_t> token_ttl_seconds = std::nullopt,
      std::optional<std::set<std::string>> key_scope = std::nullopt);
  Result<Principal> GetPrincipal(const std::string& name);
  Result<std::vector<Principal>> ListPrincipals();
  Status DeletePrincipal(const std::string& name);

 private:
  void PublishPolicyChanged();

  SealedStore& store_;
  const Clock& clock_;
  KeyEventSink* events_;  // may be null
  std::mutex mu_;  // orders principal updates
};

}  // namespace coffre::vault
