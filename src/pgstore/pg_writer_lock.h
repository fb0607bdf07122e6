#pragma once
// PgWriterLock: one hub node per cluster store, for now. Several nodes writing one store need
// what is not built yet (partitions shared by writers, data-key epochs reserved atomically, row
// digests kept per node: docs/CLUSTER.md), so a second node pointed at the store by mistake is
// refused instead of corrupting it. The lock is PostgreSQL's session advisory lock, on a
// connection of its own: it goes with its connection, so a node that dies frees it. A failover
// drops it too; the holder takes it again on the new primary, and if another node took it
// meanwhile, the pool is fenced (every later statement fails FAILED_PRECONDITION).
// Thread-safe; a thread of its own checks the lock every `check_every`.

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "common/result.h"
#include "pgstore/pg_connection.h"
#include "pgstore/pg_pool.h"

namespace coffre::pgstore {

class PgWriterLock {
 public:
  // FAILED_PRECONDITION if another node holds it. pool must outlive the lock.
  static Result<std::unique_ptr<PgWriterLock>> Acquire(
      PgPool& pool, std::chrono::milliseconds check_every = std::chrono::seconds(1));
  ~PgWriterLock();
  PgWriterLock(const PgWriterLock&) = delete;
  PgWriterLock& operator=(const PgWriterLock&) = delete;

 private:
  PgWriterLock(PgPool& pool, std::unique_ptr<PgConnection> held,
               std::chrono::milliseconds check_every);
  void Watch();

  PgPool& pool_;
  std::unique_ptr<PgConnection> held_;  // watcher thread only, after construction
  const std::chrono::milliseconds check_every_;
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread watcher_;
};

}  // namespace coffre::pgstore
