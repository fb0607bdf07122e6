#pragma once
// The vault owner's audit routes under /coffre/audit (RestApi hands them over):
//   GET  /coffre/audit[?top=N]   the last N entries (1-1000, default 20), oldest first:
//                                {"value":[{seq,time,principal,op,key,version,status,code,
//                                client}...],"count":<entries in the chain>}
//   POST /coffre/audit/verify    the chain checked with the vault's audit key (which never
//                                leaves the vault): {"ok":true,"count":N} or {"ok":false,
//                                "count":<verified>,"firstBadSeq":K,"reason":"..."}
// Only an admin principal (the owner) may call them. Stateless, thread-safe.

#include <map>
#include <string>
#include <vector>

#include "net/http_types.h"
#include "vault/api/access_control.h"
#include "vault/audit/audit_log.h"

namespace coffre::vault {

// `segments` is the path split at '/' ({"coffre", "audit", ...}); audit may be null (a vault
// without an audit log answers 501).
net::HttpResponse HandleAuditRoute(AuditLog* audit, const Principal& caller,
                                   const std::string& method,
                                   const std::vector<std::string>& segments,
                                   const std::map<std::string, std::string>& query);

}  // namespace coffre::vault
