#pragma once
// Health probes, as load balancers and orchestrators ask them: GET or HEAD, no credentials, any
// query ignored.
//   /healthz -> 200 {"status":"alive"}: the process answers requests
//   /readyz  -> 200 {"status":"ready"}, or 503 {"status":"not ready","reasons":["..."]}: the
//               daemon should get no traffic now (each daemon says why; no secret, no detail
//               beyond what an unauthenticated caller may know)
// Other methods on those paths get 405. Stateless.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "net/http_types.h"

namespace coffre::net {

// The answer for a probe, or nullopt for any other path. `not_ready`: why not ready (empty:
// ready), asked only for /readyz.
std::optional<HttpResponse> HealthProbe(const HttpRequest& request,
                                        const std::function<std::vector<std::string>()>& not_ready);

}  // namespace coffre::net
