#pragma once
// The state of the hub's storage over HTTPS (`coffre hub storage show`):
//   GET /$coffre/storage   service SAS with ServiceConnect
//   -> {"disk": {"path", "freeBytes", "reserveBytes", "full"},
//       "partitions": [{"id", "begin", "end", "breaks": [{"from", "to", "what"}]}]}
// "full": writes are refused (devices not acknowledged) until space is freed
// (storage/disk_reserve.h); "breaks": the integrity breaks known in each partition
// (hub/telemetry_store.h), without reading the records (`coffre hub verify` does). Thread-safe.

#include <optional>

#include "hub/access_policies.h"
#include "hub/telemetry_store.h"
#include "net/http_types.h"
#include "storage/disk_reserve.h"

namespace coffre::hubapi {

class StorageApi {
 public:
  // Everything must outlive the API.
  StorageApi(hub::TelemetryStore& store, storage::DiskReserve& disk, hub::AccessPolicies& policies)
      : store_(store), disk_(disk), policies_(policies) {}

  // nullopt: not this API's path.
  std::optional<net::HttpResponse> Handle(const net::HttpRequest& request);

 private:
  hub::TelemetryStore& store_;
  storage::DiskReserve& disk_;
  hub::AccessPolicies& policies_;
};

}  // namespace coffre::hubapi
