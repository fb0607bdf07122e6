#pragma once
// The vault owner's audit routes under /coffre/audit (RestApi hands them over):
//   GET  /coffre/audit[?top=N]   the last N entries (1-1000, default 20), oldest first:
//                                {"value":[{seq,time,principal,op,key,version,status,code,
//                                client}...],"count":<entries in the chain>}
//   POST /coffre/audit/verify    the chain checked with the vault's audit key (which never
//                                leaves the vault): {"ok":true,"count":N} or {"ok":false,
//                                "count":<verified>,"firstBadSeq":K,"reason":"..."}
// Only an admin principal (the owner) may call them (routes.h). Stateless, thread-safe.

#include <map>
#include <string>

#include "net/http_types.h"
#include "vault/audit/audit_log.h"

namespace coffre::vault {

// The routes' handlers (routes.h checks the caller is the owner); a null `audit` (a vault
// without an audit log) answers 501 NoAuditLog.
net::HttpResponse ShowAuditLog(AuditLog* audit, const std::map<std::string, std::string>& query);
net::HttpResponse VerifyAuditLog(AuditLog* audit);
net::HttpResponse NoAuditLog();

}  // namespace coffre::vault
