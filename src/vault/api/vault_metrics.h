#pragma once
// VaultMetrics: the vault's metrics (docs/METRICS.md) that move as requests are served: requests
// by operation (the route table's names, "other" for paths it does not know) and HTTP status
// code, and how long unwrapKey requests take; GET /metrics renders the registry they live in
// (rest_api.h). What other parts keep (the audit log's size) is read at scrape time
// (vault_service.cc). No label holds a key name, a principal or a token. Thread-safe.

#include <chrono>
#include <string_view>

#include "common/metrics/registry.h"

namespace coffre::vault {

class VaultMetrics {
 public:
  // Adds the request metrics to `registry`, which must outlive this object.
  explicit VaultMetrics(metrics::Registry& registry);

  // A request answered with `status`, begun at `started`; `operation` "" for none.
  void Request(std::string_view operation, unsigned status,
               std::chrono::steady_clock::time_point started);
  const metrics::Registry& registry() const { return registry_; }

 private:
  metrics::Registry& registry_;
  metrics::Family<metrics::Counter>& requests_;
  metrics::Histogram& unwrap_duration_;
};

}  // namespace coffre::vault
