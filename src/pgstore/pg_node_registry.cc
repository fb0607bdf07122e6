#include "pgstore/pg_node_registry.h"

#include "common/log.h"
#include "pgstore/pg_schema_lock.h"

namespace coffre::pgstore {
namespace {

// The advisory locks' first key ("Cono"): a node's lock is (this, hashtext(node id)).
constexpr const char* kNodeLockClass = "1131376239";

Result<bool> TryLock(PgConnection& db, const std::string& node_id) {
  COFFRE_ASSIGN_OR_RETURN(PgRows rows,
                          db.Exec(std::string("SELECT pg_try_advisory_lock(") + kNodeLockClass +
                                      ", hashtext($1))",
                                  {PgParam::Text(node_id)}));
  return rows.size() == 1 && rows.Value(0, 0) == "t";
}

std::string Held(const std::string& node_id) {
  return "hub node " + node_id + " is already running on this cluster store (two hubs with one "
         "data directory's node id?)";
}

}  // namespace

Result<std::unique_ptr<PgNodeRegistry>> PgNodeRegistry::Register(
    PgPool& pool, const std::string& node_id, const std::string& about,
    std::chrono::milliseconds check_every) {
  COFFRE_ASSIGN_OR_RETURN(auto connection, pool.Connect());
  COFFRE_RETURN_IF_ERROR(WithSchemaLock(*connection, [&]() -> Status {
    return connection->Exec("CREATE TABLE IF NOT EXISTS coffre_nodes (node_id text PRIMARY KEY,"
                            " lock_key int NOT NULL, about text NOT NULL,"
                            " registered timestamptz NOT NULL DEFAULT now())").status();
  }));
  COFFRE_ASSIGN_OR_RETURN(bool taken, TryLock(*connection, node_id));
  if (!taken) return FailedPrecondition(Held(node_id));
  COFFRE_RETURN_IF_ERROR(
      connection->Exec("INSERT INTO coffre_nodes (node_id, lock_key, about) "
                       "VALUES ($1, hashtext($1), $2) ON CONFLICT (node_id) DO UPDATE SET "
                       "about = excluded.about, registered = now()",
                       {PgParam::Text(node_id), PgParam::Text(about)}).status());
  return std::unique_ptr<PgNodeRegistry>(
      new PgNodeRegistry(pool, node_id, std::move(connection), check_every));
}

PgNodeRegistry::PgNodeRegistry(PgPool& pool, std::string node_id,
                               std::unique_ptr<PgConnection> held,
                               std::chrono::milliseconds check_every)
    : pool_(pool), node_id_(std::move(node_id)), held_(std::move(held)), check_every_(check_every) {
  watcher_ = std::thread([this] { Watch(); });
}

PgNodeRegistry::~PgNodeRegistry() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  watcher_.join();
  // Released now, not when the server notices the closed connection: a node that stopped is
  // gone from LiveNodes() as soon as its stop returns.
  if (held_) {
    (void)held_->Exec(std::string("SELECT pg_advisory_unlock(") + kNodeLockClass + ", hashtext($1))",
                      {PgParam::Text(node_id_)});
  }
}

Result<std::vector<PgNode>> PgNodeRegistry::LiveNodes() {
  COFFRE_ASSIGN_OR_RETURN(PgRows rows, pool_.Query([](PgConnection& db) {
    // A two-key advisory lock shows in pg_locks as classid = key 1, objid = key 2 (as an
    // unsigned oid), objsubid = 2.
    return db.Exec(std::string("SELECT n.node_id, n.about FROM coffre_nodes n WHERE EXISTS ("
                               "SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND "
                               "l.granted AND l.objsubid = 2 AND l.classid = ") +
                   kNodeLockClass + "::oid AND l.objid = (n.lock_key::bigint & 4294967295)::oid"
                   " AND l.database = (SELECT oid FROM pg_database WHERE datname = "
                   "current_database())) ORDER BY n.node_id");
  }));
  std::vector<PgNode> nodes;
  for (const auto& row : rows.rows) nodes.push_back({row[0], row[1]});
  return nodes;
}

void PgNodeRegistry::Watch() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_cv_.wait_for(lock, check_every_, [&] { return stopping_; })) {
    lock.unlock();
    // A live connection holds the lock; a lost one (a failover, a restarted server) lost it.
    if (!held_ || !held_->Exec("SELECT 1").has_value()) {
      held_.reset();
      auto connection = pool_.Connect();
      if (connection.has_value()) {
        Result<bool> taken = TryLock(**connection, node_id_);
        if (taken.has_value() && *taken) {
          held_ = std::move(*connection);
          LogLine("store", "hub node " + node_id_ + " is registered on the cluster store again");
        } else if (taken.has_value()) {
          // Another process took this node's id while the connection was down: it writes as
          // this node (its digest shard), so this one must not.
          LogLine(LogLevel::kError, "store", Held(node_id_) + "; this node stops writing");
          pool_.Fence(Held(node_id_));
          return;
        }
      }
    }
    lock.lock();
  }
}

}  // namespace coffre::pgstore
