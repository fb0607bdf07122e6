#include "pgstore/pg_writer_lock.h"

#include "common/log.h"

namespace coffre::pgstore {
namespace {

// The advisory lock's key: "coffre" in ASCII.
constexpr const char* kLockKey = "108584616997477";

constexpr const char* kTaken =
    "another coffre-hub holds this cluster store (one hub node per store for now; "
    "docs/CLUSTER.md)";

// Takes the lock on `db`: true if taken, false if another session holds it.
Result<bool> TryLock(PgConnection& db) {
  COFFRE_ASSIGN_OR_RETURN(PgRows rows, db.Exec(std::string("SELECT pg_try_advisory_lock(") +
                                               kLockKey + ")"));
  return rows.size() == 1 && rows.Value(0, 0) == "t";
}

}  // namespace

Result<std::unique_ptr<PgWriterLock>> PgWriterLock::Acquire(PgPool& pool,
                                                            std::chrono::milliseconds check_every) {
  COFFRE_ASSIGN_OR_RETURN(auto connection, pool.Connect());
  COFFRE_ASSIGN_OR_RETURN(bool taken, TryLock(*connection));
  if (!taken) return FailedPrecondition(kTaken);
  return std::unique_ptr<PgWriterLock>(new PgWriterLock(pool, std::move(connection), check_every));
}

PgWriterLock::PgWriterLock(PgPool& pool, std::unique_ptr<PgConnection> held,
                           std::chrono::milliseconds check_every)
    : pool_(pool), held_(std::move(held)), check_every_(check_every) {
  watcher_ = std::thread([this] { Watch(); });
}

PgWriterLock::~PgWriterLock() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  watcher_.join();
}

void PgWriterLock::Watch() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_cv_.wait_for(lock, check_every_, [&] { return stopping_; })) {
    lock.unlock();
    // A live connection holds the lock; a lost one (a failover, a restarted server) lost it.
    if (!held_ || !held_->Exec("SELECT 1").has_value()) {
      held_.reset();
      auto connection = pool_.Connect();
      if (connection.has_value()) {
        Result<bool> taken = TryLock(**connection);
        if (taken.has_value() && *taken) {
          held_ = std::move(*connection);
          LogLine("store", "the cluster store's writer lock is held again");
        } else if (taken.has_value()) {
          LogLine(LogLevel::kError, "store", std::string(kTaken) + ": it took the store while "
                                             "this node's connection was lost; this node stops "
                                             "writing");
          pool_.Fence(kTaken);
          return;
        }
      }
    }
    lock.lock();
  }
}

}  // namespace coffre::pgstore
