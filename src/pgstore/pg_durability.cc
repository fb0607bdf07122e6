#include "pgstore/pg_durability.h"

#include "common/log.h"

namespace coffre::pgstore {

Result<std::string> DurabilityShortfall(PgConnection& db) {
  COFFRE_ASSIGN_OR_RETURN(
      PgRows rows,
      db.Exec("SELECT pg_is_in_recovery(), current_setting('fsync'), "
              "current_setting('synchronous_commit'), current_setting('synchronous_standby_names')"));
  if (rows.size() != 1) return Internal("PostgreSQL did not say how it commits");
  if (rows.Value(0, 0) == "t") return std::string("the server is a standby, not the primary");
  if (rows.Value(0, 1) != "on") return std::string("fsync is off");
  const std::string& commit = rows.Value(0, 2);
  if (commit != "on" && commit != "remote_apply") {
    return "synchronous_commit is '" + commit + "' (a commit must wait for a standby: 'on')";
  }
  if (rows.Value(0, 3).empty()) {
    return std::string("synchronous_standby_names is empty: commits wait for no standby "
                       "(Patroni's synchronous_mode sets it)");
  }
  return std::string();
}

Status CheckDurability(PgConnection& db, bool relaxed) {
  COFFRE_ASSIGN_OR_RETURN(std::string shortfall, DurabilityShortfall(db));
  if (shortfall.empty()) return Status::Ok();
  if (!relaxed) {
    return FailedPrecondition(
        "PostgreSQL would acknowledge commits that one machine's loss can undo: " + shortfall +
        ". Configure synchronous replication (docs/CLUSTER.md), or start with "
        "--postgres-durability local to accept that");
  }
  LogLine("store", "WARNING: --postgres-durability local: " + shortfall +
                       "; an acknowledged message survives this server's crash, NOT the loss of "
                       "its machine or disk");
  return Status::Ok();
}

}  // namespace coffre::pgstore
