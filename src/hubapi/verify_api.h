#pragma once
// Verifying the stored telemetry over HTTPS (`coffre hub verify`):
//   POST /$coffre/verify[?partition=N]   service SAS with ServiceConnect
//   -> {"ok": bool, "partitions": [{"id", "first", "end", "anchored", "headEnd",
//       "recordsChecked", "breaks": [{"from", "to", "what"}]}]}
// Every record of each partition is read, opened and followed along its chain, and the log is
// compared with its sealed head (hub/telemetry_store.h). "ok" is false if any break is found or
// a partition holding records has no sealed head. It reads everything: run it off the io threads.
// Thread-safe.

#include <optional>

#include "hub/access_policies.h"
#include "hub/telemetry_store.h"
#include "net/http_types.h"

namespace coffre::hubapi {

class VerifyApi {
 public:
  // store and policies must outlive the API.
  VerifyApi(hub::TelemetryStore& store, hub::AccessPolicies& policies)
      : store_(store), policies_(policies) {}

  static bool Matches(const net::HttpRequest& request);
  std::optional<net::HttpResponse> Handle(const net::HttpRequest& request);

 private:
  hub::TelemetryStore& store_;
  hub::AccessPolicies& policies_;
};

}  // namespace coffre::hubapi
