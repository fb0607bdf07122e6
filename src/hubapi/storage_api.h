#pragma once
// The state of the hub's storage over HTTPS (`coffre hub storage show`):
//   GET /$coffre/storage   service SAS with ServiceConnect
//   -> {"disk": {"path", "freeBytes", "reserveBytes", "full"},
//       "partitions": [{"id", "begin", "end", "breaks": [{"from", "to", "what"}]}],
//       "metadata": {"breaks": [{"table", "what"}], "writable": bool, "writeError"}}
// "full": writes are refused (devices not acknowledged) until space is freed
// (storage/disk_reserve.h); "breaks": the integrity breaks known in each partition
// (hub/telemetry_store.h), without reading the records (`coffre hub verify` does); "metadata":
// what the metadata digests' check at start found (hub/row_digests.h); "writable": false once the
// metadata store failed a write other than for a full disk (storage/rocks_kv_store.h), with
// why in "writeError": the hub then acknowledges nothing until it is restarted. Thread-safe.

#include <optional>

#include "hub/access_policies.h"
#include "hub/row_digests.h"
#include "hub/telemetry_store.h"
#include "net/http_types.h"
#include "storage/disk_reserve.h"
#include "storage/kv_store.h"

namespace coffre::hubapi {

class StorageApi {
 public:
  // Everything must outlive the API.
  StorageApi(hub::TelemetryStore& store, hub::RowDigests& metadata,
             storage::KvStore& metadata_store, storage::DiskReserve& disk,
             hub::AccessPolicies& policies)
      : store_(store), metadata_(metadata), metadata_store_(metadata_store), disk_(disk),
        policies_(policies) {}

  // nullopt: not this API's path.
  std::optional<net::HttpResponse> Handle(const net::HttpRequest& request);

 private:
  hub::TelemetryStore& store_;
  hub::RowDigests& metadata_;
  storage::KvStore& metadata_store_;
  storage::DiskReserve& disk_;
  hub::AccessPolicies& policies_;
};

}  // namespace coffre::hubapi
