#pragma once
// What the audit log records of one HTTP request to the vault: the operation named from the
// method and path alone (so a request refused before routing, a 401 say, is named too), the
// key (or principal) and version from the path, the version a "latest" request resolved to
// from the reply's kid, and the error code from the reply's Azure-shaped error body. Nothing
// from the request body, no token, no key material. Stateless, thread-safe.

#include <string_view>

#include "net/http_types.h"
#include "vault/audit/audit_entry.h"

namespace coffre::vault {

// `principal` is "" when the request did not authenticate.
AuditEntry DescribeRequest(const net::HttpRequest& request, std::string_view principal,
                           const net::HttpResponse& response);

// The operation the route table (or GET or HEAD /metrics: "getMetrics") names the request by; "" for a
// path or method it does not know. A small fixed set: the vault's metrics label.
std::string_view OperationOf(const net::HttpRequest& request);

// The path /metrics (RestApi serves the metrics there), whatever the query.
bool IsMetricsPath(const net::HttpRequest& request);

}  // namespace coffre::vault
