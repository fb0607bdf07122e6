#pragma once
// What a route handler (routes.h) gets: the vault's parts, the authenticated caller, and the
// request with the placeholders its path filled in. Lives for one request.

#include <map>
#include <string>
#include <vector>

#include "net/http_types.h"
#include "vault/api/access_control.h"
#include "vault/api/rest_api_options.h"
#include "vault/api/routes.h"
#include "vault/keys/key_backup.h"
#include "vault/keys/key_vault.h"

namespace coffre::vault {

class AuditLog;

struct RouteContext {
  KeyVault& vault;
  AccessControl& access;
  const RestApiOptions& options;
  const KeyBackup* backup;  // may be null: backup and restore answer 501
  AuditLog* audit;          // may be null: the audit routes answer 501
  const net::HttpRequest& request;
  const Principal& caller;
  const std::string& api_version;
  const std::map<std::string, std::string>& query;
  RouteParams params;
  std::string operation;  // {op} in its canonical spelling, once the route is chosen
};

// The handlers the table names (key_routes.cc, admin_routes.cc).
namespace route_handlers {

net::HttpResponse ListKeys(RouteContext& c);
net::HttpResponse RestoreKey(RouteContext& c);
net::HttpResponse GetKey(RouteContext& c);
net::HttpResponse UpdateKey(RouteContext& c);
net::HttpResponse ImportKey(RouteContext& c);
net::HttpResponse DeleteKey(RouteContext& c);
net::HttpResponse CreateKey(RouteContext& c);
net::HttpResponse RotateKey(RouteContext& c);
net::HttpResponse BackupKey(RouteContext& c);
net::HttpResponse GetRotationPolicy(RouteContext& c);
net::HttpResponse SetRotationPolicy(RouteContext& c);
net::HttpResponse ListKeyVersions(RouteContext& c);
net::HttpResponse KeyOperation(RouteContext& c);
net::HttpResponse ListDeletedKeys(RouteContext& c);
net::HttpResponse GetDeletedKey(RouteContext& c);
net::HttpResponse PurgeDeletedKey(RouteContext& c);
net::HttpResponse RecoverDeletedKey(RouteContext& c);

net::HttpResponse ListPrincipals(RouteContext& c);
net::HttpResponse GetPrincipal(RouteContext& c);
net::HttpResponse SetPrincipal(RouteContext& c);
net::HttpResponse DeletePrincipal(RouteContext& c);
net::HttpResponse GetTestClock(RouteContext& c);
net::HttpResponse AdvanceTestClock(RouteContext& c);
net::HttpResponse GetSealStatus(RouteContext& c);
net::HttpResponse GetAuditLog(RouteContext& c);
net::HttpResponse VerifyAuditLog(RouteContext& c);
net::HttpResponse AuditNotAllowed(RouteContext& c);  // 501 without a log, else 405
net::HttpResponse AuditNotFound(RouteContext& c);    // 501 without a log, else 404
net::HttpResponse ListEventSubscriptions(RouteContext& c);
net::HttpResponse AddEventSubscription(RouteContext& c);
net::HttpResponse GetEventSubscription(RouteContext& c);
net::HttpResponse RemoveEventSubscription(RouteContext& c);

net::HttpResponse NotAllowed(RouteContext& c);  // 405
net::HttpResponse NotFound(RouteContext& c);    // 404

}  // namespace route_handlers
}  // namespace coffre::vault
