#include "pgstore/pg_schema_lock.h"

namespace coffre::pgstore {
namespace {

// "coffre schema" in the two-number form of advisory locks, a key space of its own.
constexpr const char* kLock = "SELECT pg_advisory_xact_lock(1668244070, 1936221549)";

}  // namespace

Status WithSchemaLock(PgConnection& db, const std::function<Status()>& body) {
  return db.Transaction([&]() -> Status {
    COFFRE_RETURN_IF_ERROR(db.Exec(kLock).status());
    return body();
  });
}

}  // namespace coffre::pgstore
