#pragma once
// POST /devices/query: the IoT Hub query language over device or module twins
// (docs/formats/query.md), as azure-iothub's Registry.createQuery pages through it: the body
// {"query": "..."}, x-ms-max-item-count for the page size (1-1000, default 100), and an opaque
// x-ms-continuation, sent back while more results follow and absent on the last page.
// Aggregating queries answer in one page. Authorized by ServiceConnect policy tokens.
// Thread-safe.

#include <optional>

#include "hub/access_policies.h"
#include "hub/registry.h"
#include "hub/twins.h"
#include "net/http_types.h"

namespace coffre::hubapi {

class QueryApi {
 public:
  // All must outlive the API.
  QueryApi(hub::Registry& registry, hub::Twins& twins, hub::AccessPolicies& policies)
      : registry_(registry), twins_(twins), policies_(policies) {}

  // nullopt: not the query route.
  std::optional<net::HttpResponse> Handle(const net::HttpRequest& request);

 private:
  hub::Registry& registry_;
  hub::Twins& twins_;
  hub::AccessPolicies& policies_;
};

}  // namespace coffre::hubapi
