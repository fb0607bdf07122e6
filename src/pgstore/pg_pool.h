#pragma once
// PgPool: the hub's connections to the cluster store, shared by its threads. Run(fn) lends a
// connection to fn; when fn fails UNAVAILABLE (a lost connection, a failover under way, no
// primary yet) the connection is dropped and fn runs again on a new one, which libpq's
// multi-host connection string (target_session_attrs=read-write) makes on the new primary,
// with a growing pause, until `retry_for` has passed. So while no primary exists the hub stops
// acknowledging and waits; it drops nothing. fn must be safe to run again after an unknown
// outcome (a batch carries an id for that: pgstore/pg_partition_log.h).
// Thread-safe; a caller waits when every connection is lent.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "common/result.h"
#include "pgstore/pg_connection.h"

namespace coffre::pgstore {

struct PgPoolOptions {
  std::string conninfo;
  size_t max_connections = 8;
  std::chrono::milliseconds retry_for{30000};
  // A statement unanswered this long drops its connection (and is retried): PgConnection.
  std::chrono::milliseconds answer_within{10000};
};

class PgPool {
 public:
  // Makes the first connection now, without retries: a wrong connection string or password
  // fails at start.
  static Result<std::unique_ptr<PgPool>> Connect(PgPoolOptions options);

  Status Run(const std::function<Status(PgConnection&)>& fn);
  // Run for a statement with an answer: `fn` returns a Result<T>, and so does Query (the last
  // attempt's).
  template <typename Fn>
  auto Query(Fn&& fn) -> std::invoke_result_t<Fn&, PgConnection&> {
    std::optional<std::invoke_result_t<Fn&, PgConnection&>> answer;
    Status ran = Run([&](PgConnection& db) -> Status {
      answer.emplace(fn(db));
      return answer->has_value() ? Status::Ok() : answer->error();
    });
    if (!ran.ok()) return ran;
    return std::move(*answer);
  }

  // From now on every Run fails FAILED_PRECONDITION with `why` (another node took the store).
  void Fence(std::string why);

  // A connection of the caller's own, outside the pool (a long read-only transaction).
  Result<std::unique_ptr<PgConnection>> Connect() const;

  uint64_t reconnects() const;  // connections dropped after a failure, since start

 private:
  explicit PgPool(PgPoolOptions options) : options_(std::move(options)) {}
  Result<std::unique_ptr<PgConnection>> Borrow();
  void Return(std::unique_ptr<PgConnection> connection);

  PgPoolOptions options_;
  mutable std::mutex mu_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<PgConnection>> idle_;  // guarded by mu_
  size_t lent_ = 0;                                  // guarded by mu_
  uint64_t reconnects_ = 0;                          // guarded by mu_
  std::string fenced_;                               // guarded by mu_: why, once fenced
};

}  // namespace coffre::pgstore
