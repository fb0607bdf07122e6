#pragma once
// WithSchemaLock: runs `body` (CREATE ... IF NOT EXISTS and first rows) in one transaction
// under an advisory lock that every hub node takes to set up the store. Two nodes starting on a
// new database at once would otherwise race in the catalog ("tuple concurrently updated", or a
// duplicate type name), which IF NOT EXISTS does not prevent.

#include <functional>

#include "common/result.h"
#include "pgstore/pg_connection.h"

namespace coffre::pgstore {

Status WithSchemaLock(PgConnection& db, const std::function<Status()>& body);

}  // namespace coffre::pgstore
