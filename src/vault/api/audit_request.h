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

}  // namespace coffre::vault
