#include "vault/api/vault_metrics.h"

#include <string>

namespace coffre::vault {

VaultMetrics::VaultMetrics(metrics::Registry& registry)
    : registry_(registry),
      requests_(registry.Counters(
          "coffre_vault_requests_total",
          "Requests answered, by operation (the audit log's names; other: an unknown path) and "
          "HTTP status code. Health probes are not counted.",
          {"operation", "code"})),
      unwrap_duration_(registry.AddHistogram(
          "coffre_vault_unwrap_duration_seconds",
          "Time to answer one unwrapKey request (the token's check included).",
          {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1})) {}

void VaultMetrics::Request(std::string_view operation, unsigned status,
                           std::chrono::steady_clock::time_point started) {
  if (operation == "unwrapKey") unwrap_duration_.ObserveSince(started);
  std::string code = std::to_string(status);
  requests_.With({operation.empty() ? std::string_view("other") : operation, code}).Inc();
}

}  // namespace coffre::vault
