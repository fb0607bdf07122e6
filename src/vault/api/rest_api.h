#pragma once
// The vault's HTTPS API: the Azure Key Vault keys REST API as @azure/keyvault-keys uses it
// (docs/VAULT.md), plus Coffre's own routes under /coffre/: principal
// management and the master key's seal status.
// Order of checks: authentication (401 + challenge, before anything is parsed), api-version,
// route, key scope (403 ForbiddenByRbac), permission (403 AccessDenied), existence (404),
// validation (400); a client past its failed-authentication limit gets 429. Every error body is
// Azure-shaped JSON: {"error":{"code","message","innererror"?:{"code"}}}. With an AuditLog,
// every request is audited, and /coffre/audit serves it to the owner (audit_api.h).
// The routes are one table (routes.h); their handlers are in key_routes.cc and admin_routes.cc.
// Thread-safe.

#include <string>
#include <variant>
#include <vector>

#include "net/http_types.h"
#include "vault/api/access_control.h"
#include "vault/api/rest_api_options.h"
#include "vault/keys/key_backup.h"
#include "vault/keys/key_vault.h"

namespace coffre::vault {

class AuditLog;  // vault/audit/audit_log.h
struct RouteContext;  // vault/api/route_context.h

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
  // Sets `principal` once the caller authenticates.
  net::HttpResponse Serve(const net::HttpRequest& request, std::string& principal);
  // GET /metrics: the metrics in the Prometheus text format; a valid token unless metrics_open.
  net::HttpResponse ServeMetrics(const net::HttpRequest& request, std::string& principal);
  // The caller of a request with a bearer token, or the answer to a request without a valid
  // one (401 with the challenge, 429 past the failed-authentication limit).
  std::variant<Principal, net::HttpResponse> Authenticate(const net::HttpRequest& request);
  // Chooses the route (routes.h), checks the caller may take it, and runs its handler.
  net::HttpResponse Dispatch(RouteContext& context, const std::vector<std::string>& segments);
  net::HttpResponse Challenge(const net::HttpRequest& request, std::string_view message) const;

  KeyVault& vault_;
  AccessControl& access_;
  RestApiOptions options_;
  const KeyBackup* backup_;
  AuditLog* audit_;
};

}  // namespace coffre::vault
