#pragma once
// The durability check of cluster mode. A hub acknowledges a message once its commit returns;
// that is the promise "a PUBACK means the message survives the loss of any one machine" only
// if the server commits to a synchronous standby too. CheckDurability asks the server it is
// connected to: a primary (not in recovery), fsync on, synchronous_commit `on` or
// `remote_apply` (a standby has flushed the commit), and synchronous_standby_names set (what
// Patroni's synchronous_mode maintains). Anything else is FAILED_PRECONDITION naming the
// setting, unless `relaxed` (a single server, for trials and tests): then it is logged loudly
// and the hub starts.

#include <string>

#include "common/result.h"
#include "pgstore/pg_connection.h"

namespace coffre::pgstore {

// What is missing for quorum durability; empty if nothing.
Result<std::string> DurabilityShortfall(PgConnection& db);

Status CheckDurability(PgConnection& db, bool relaxed);

}  // namespace coffre::pgstore
