#pragma once
// How a RestApi is set up (rest_api.h); what its route handlers see of it (route_context.h).

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/rate_limiter.h"
#include "vault/api/vault_metrics.h"
#include "vault/events/event_subscriptions.h"
#include "vault/rotation/vault_clock.h"

namespace coffre::vault {

struct RestApiOptions {
  std::string public_origin;  // "https://localhost:8443": the origin in every kid
  std::string challenge_authorization =
      "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000";
  std::string challenge_resource = "https://vault.azure.net";
  // Set only for a vault started with --test-clock: the owner may then advance it through
  // GET/POST /coffre/clock. Must outlive the API.
  VaultClock* test_clock = nullptr;
  nlohmann::json seal_status = nlohmann::json::object();  // GET /coffre/seal-status: no secret
  // /coffre/eventsubscriptions (event_subscriptions_api.h); null: 404. Must outlive the API.
  EventSubscriptions* event_subscriptions = nullptr;
  // Failed authentications (no, unknown or expired token) per client address: past the limit
  // the vault answers 429 Throttled with Retry-After instead of 401. A valid token is never
  // throttled by it. Null: no limit. Must outlive the API.
  RateLimiter* auth_failures = nullptr;
  // Paces auth_failures (steady time); null: the system clock. Must outlive the API.
  const Clock* clock = nullptr;
  // Why the vault should get no traffic now (GET /readyz, net/health_probe.h); null or empty:
  // ready.
  std::function<std::vector<std::string>()> not_ready = nullptr;
  // Requests counted, and GET /metrics served from its registry (docs/METRICS.md); null: neither
  // (/metrics is an unknown path). Must outlive the API.
  VaultMetrics* metrics = nullptr;
  // GET /metrics without a token (for a scraper on a network the operator trusts); false: any
  // valid bearer token (a principal needs no permission for it).
  bool metrics_open = false;
};

}  // namespace coffre::vault
