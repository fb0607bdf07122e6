#pragma once
// PgNodeRegistry: the hub nodes using a cluster store, and which of them are alive. Each node
// holds PostgreSQL's session advisory lock numbered by its node id on a connection of its own,
// and keeps a row in coffre_nodes (its id, what it says of itself: host and ports). The lock
// goes with its connection, so a node that dies is no longer alive the moment its server
// notices; LiveNodes() lists the rows whose lock is held. After a failover the node takes its
// lock again on the new primary (a thread of its own checks every `check_every`). A second
// process with the same node id (two hubs sharing one data directory's id) is refused.
// Thread-safe.
//
// Table (made by Register, idempotent):
//   coffre_nodes (node_id text PRIMARY KEY, lock_key int, about text, registered timestamptz)

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "pgstore/pg_connection.h"
#include "pgstore/pg_pool.h"

namespace coffre::pgstore {

struct PgNode {
  std::string node_id;
  std::string about;
};

class PgNodeRegistry {
 public:
  // FAILED_PRECONDITION if a live process already holds `node_id`. pool must outlive it.
  static Result<std::unique_ptr<PgNodeRegistry>> Register(
      PgPool& pool, const std::string& node_id, const std::string& about,
      std::chrono::milliseconds check_every = std::chrono::seconds(1));
  ~PgNodeRegistry();  // releases the node's lock: no longer live
  PgNodeRegistry(const PgNodeRegistry&) = delete;
  PgNodeRegistry& operator=(const PgNodeRegistry&) = delete;

  // Every node whose lock is held now, this one included, by id.
  Result<std::vector<PgNode>> LiveNodes();
  const std::string& node_id() const { return node_id_; }

 private:
  PgNodeRegistry(PgPool& pool, std::string node_id, std::unique_ptr<PgConnection> held,
                 std::chrono::milliseconds check_every);
  void Watch();

  PgPool& pool_;
  const std::string node_id_;
  std::unique_ptr<PgConnection> held_;  // watcher thread only, after construction
  const std::chrono::milliseconds check_every_;
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread watcher_;
};

}  // namespace coffre::pgstore
