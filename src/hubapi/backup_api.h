#pragma once
// Backups of the running hub over HTTPS (`coffre hub backup`; hub/hub_backups.h). Each route
// needs a service SAS with RegistryWrite and ServiceConnect (iothubowner): a backup holds every
// row of the hub, sealed.
//   POST   /$coffre/backups                  -> 202 {backup}: made in the background
//   GET    /$coffre/backups                  -> [{backup}]
//   GET    /$coffre/backups/{id}             -> {backup}
//   GET    /$coffre/backups/{id}/content?offset=N
//          -> 200 application/octet-stream, at most 8 MiB of the file from N (empty at its end)
//   DELETE /$coffre/backups/{id}             -> 204 (a running one is cancelled)
// {backup}: {"id", "state": "running"|"succeeded"|"failed", "error", "requestedBy", "startedAt",
//            "finishedAt", "rows", "records", "recordsTotal", "bytes"}
// 409 BackupConflict while one runs or too many are kept; 404 for an unknown id. Thread-safe.

#include <optional>

#include "hub/access_policies.h"
#include "hub/hub_backups.h"
#include "net/http_types.h"

namespace coffre::hubapi {

inline constexpr size_t kBackupContentPiece = 8u << 20;

class BackupApi {
 public:
  // Everything must outlive the API.
  BackupApi(hub::HubBackups& backups, hub::AccessPolicies& policies)
      : backups_(backups), policies_(policies) {}

  // nullopt: not this API's path.
  std::optional<net::HttpResponse> Handle(const net::HttpRequest& request);

 private:
  net::HttpResponse Content(const net::HttpRequest& request, std::string_view id);

  hub::HubBackups& backups_;
  hub::AccessPolicies& policies_;
};

}  // namespace coffre::hubapi
