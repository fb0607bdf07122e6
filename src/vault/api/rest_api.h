#pragma once
// The vault's HTTPS API: the Azure Key Vault keys REST API as @azure/keyvault-keys uses it
// (docs/VAULT.md), plus Coffre's own routes under /coffre/: principal
// management and the master key's seal status.
// Order of checks: authentication (401 + challenge, before anything is parsed), api-version,
// route, key scope (403 ForbiddenByRbac), permission (403 AccessDenied), existence (404),
// validation (400); a client past its failed-authentication limit gets 429. Every error body is
// Azure-shaped JSON: {"error":{"code","message","innererror"?:{"code"}}}. With an AuditLog,
// every request is audited, and /coffre/audit serves it to the owner (audit_api.h).
// Thread-safe.

#include <chrono>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/rate_limiter.h"
#include "net/http_types.h"
#include "vault/api/access_control.h"
#include "vault/keys/key_backup.h"
#include "vault/events/event_subscriptions.h"
#include "vault/keys/key_vault.h"
#include "vault/rotation/vault_clock.h"

namespace coffre::vault {

class AuditLog;  // vault/audit_log.h

struct RestApiOptions {
  std::string public_origin;  // "https://localhost:8443": the origin in every kid
  std::string challenge_authorization =
      "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000";
  std::string challenge_resource = "https://vault.azure.net";
  // Set only for a vault started with --test-clock: the owner may then advance it through
  // GET/POST /coffre/clock. Must outlive the API.
  VaultClock* test_clock = nullptr;
  nlohmann::json seal_status = nlohmann::json::object();  // GET /coffre/seal-status: no secret
  // /coffre/eventsubscriptions (event_subscriptions_api.h); null: 404. Must outlive the API.
  EventSubscriptions* event_subscriptions = nullptr;
  // Failed authentications (no, unknown or expired token) per client address: past the limit
  // the vault answers 429 Throttled with Retry-After instead of 401. A valid token is never
  // throttled by it. Null: no limit. Must outlive the API.
  RateLimiter* auth_failures = nullptr;
  std::function<std::chrono::steady_clock::time_point()> steady_now =
      [] { return std::chrono::steady_clock::now(); };
};

class RestApi {
 public:
  // vault, access, backup and audit must outlive the API. Without `backup`, backup and restore
  // answer 501; without `audit`, nothing is audited.
  RestApi(KeyVault& vault, AccessControl& access, RestApiOptions options,
          const KeyBackup* backup = nullptr, AuditLog* audit = nullptr)
      : vault_(vault), access_(access), options_(std::move(options)), backup_(backup),
        audit_(audit) {}

  // Serves the request and, with an audit log, appends its entry (every request, refused or
  // not).
  net::HttpResponse Handle(const net::HttpRequest& request);

  // An Azure-shaped error response; used for the server's own errors (413, 400) too.
  static net::HttpResponse Error(unsigned status, std::string_view code, std::string_view message,
                                 std::string_view inner = {});

 private:
  struct Call;
  // Sets `principal` once the caller authenticates.
  net::HttpResponse Serve(const net::HttpRequest& request, std::string& principal);
  net::HttpResponse Route(Call& call);
  net::HttpResponse Challenge(const net::HttpRequest& request, std::string_view message) const;

  KeyVault& vault_;
  AccessControl& access_;
  RestApiOptions options_;
  const KeyBackup* backup_;
  AuditLog* audit_;
};

}  // namespace coffre::vault
