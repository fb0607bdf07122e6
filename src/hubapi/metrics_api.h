#pragma once
// GET /metrics on the hub's HTTPS port: the hub's metrics in the Prometheus text format
// (docs/METRICS.md), for a scraper. By default the caller needs a shared access policy's SAS
// token with ServiceConnect, as the service API asks (Prometheus sends one with `authorization:
// {type: SharedAccessSignature, credentials_file: ...}`); while the customer-managed key is
// inaccessible the policies cannot be read, so such a scrape is refused like any service call
// (403 CustomerManagedKeyInaccessible). With `open` (HubOptions::metrics_open) no credential is
// asked, and the scrape is answered while Inaccessible too: for a scraper on a network the
// operator trusts. The text holds no secret, key, token or device id, either way.
// GET or HEAD (no body); other methods 405. Thread-safe.

#include <functional>
#include <optional>

#include "common/metrics/registry.h"
#include "hub/access_policies.h"
#include "net/http_types.h"

namespace coffre::hubapi {

class MetricsApi {
 public:
  using Refusal = std::function<std::optional<net::HttpResponse>()>;

  // registry and policies must outlive the API. `refuse_if_inaccessible`: the refusal while the
  // customer key is inaccessible (nullopt otherwise), asked before the credential is.
  MetricsApi(const metrics::Registry& registry, hub::AccessPolicies& policies, bool open,
             Refusal refuse_if_inaccessible)
      : registry_(registry), policies_(policies), open_(open),
        refuse_if_inaccessible_(std::move(refuse_if_inaccessible)) {}

  static bool Matches(const net::HttpRequest& request);  // the path is /metrics
  // nullopt: not for this API.
  std::optional<net::HttpResponse> Handle(const net::HttpRequest& request);

 private:
  const metrics::Registry& registry_;
  hub::AccessPolicies& policies_;
  const bool open_;
  const Refusal refuse_if_inaccessible_;
};

}  // namespace coffre::hubapi
