#pragma once
// The read API: the device-to-cloud stream as stored, over HTTPS (docs/formats/read-api.md).
//   GET /telemetry/partitions                      partition ids and their sequence ranges
//   GET /telemetry/partitions/{p}/messages?from=N&max=M&waitMs=W
// from a sequence number (the offset), up to M messages (default 100, at most 1000), waiting up to
// W ms (at most 10,000) for the first one if none is there yet. Service SAS with ServiceConnect.
// Thread-safe.

#include <optional>

#include "hub/access_policies.h"
#include "hub/telemetry_store.h"
#include "net/http_types.h"

namespace coffre::hubapi {

class ReadApi {
 public:
  // store and policies must outlive the API.
  ReadApi(hub::TelemetryStore& store, hub::AccessPolicies& policies)
      : store_(store), policies_(policies) {}

  std::optional<net::HttpResponse> Handle(const net::HttpRequest& request);

 private:
  hub::TelemetryStore& store_;
  hub::AccessPolicies& policies_;
};

}  // namespace coffre::hubapi
