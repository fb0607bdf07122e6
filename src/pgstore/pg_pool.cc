#include "pgstore/pg_pool.h"

#include <algorithm>
#include <thread>

namespace coffre::pgstore {

Result<std::unique_ptr<PgPool>> PgPool::Connect(PgPoolOptions options) {
  if (options.max_connections == 0) return InvalidArgument("a pool needs a connection");
  std::unique_ptr<PgPool> pool(new PgPool(std::move(options)));
  COFFRE_ASSIGN_OR_RETURN(auto first, PgConnection::Connect(pool->options_.conninfo,
                                                            pool->options_.answer_within));
  pool->idle_.push_back(std::move(first));
  return pool;
}

void PgPool::Fence(std::string why) {
  std::lock_guard<std::mutex> lock(mu_);
  fenced_ = std::move(why);
}

Result<std::unique_ptr<PgConnection>> PgPool::Borrow() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!fenced_.empty()) return FailedPrecondition(fenced_);
    returned_.wait(lock, [&] { return !idle_.empty() || lent_ < options_.max_connections; });
    ++lent_;
    if (!idle_.empty()) {
      auto connection = std::move(idle_.back());
      idle_.pop_back();
      return connection;
    }
  }
  Result<std::unique_ptr<PgConnection>> made =
      PgConnection::Connect(options_.conninfo, options_.answer_within);
  if (!made.has_value()) {
    std::lock_guard<std::mutex> lock(mu_);
    --lent_;
    returned_.notify_one();
  }
  return made;
}

void PgPool::Return(std::unique_ptr<PgConnection> connection) {
  std::lock_guard<std::mutex> lock(mu_);
  --lent_;
  if (connection) {
    idle_.push_back(std::move(connection));
  } else {
    ++reconnects_;
  }
  returned_.notify_one();
}

Status PgPool::Run(const std::function<Status(PgConnection&)>& fn) {
  const auto give_up = std::chrono::steady_clock::now() + options_.retry_for;
  std::chrono::milliseconds pause(20);
  for (;;) {
    Status outcome;
    Result<std::unique_ptr<PgConnection>> connection = Borrow();
    if (connection.has_value()) {
      outcome = fn(**connection);
      // A connection that failed UNAVAILABLE is dropped: it may be to a server that is no
      // longer the primary, or half closed; so is one left inside a transaction.
      bool reusable = outcome.code() != StatusCode::kUnavailable && (*connection)->idle();
      Return(reusable ? std::move(*connection) : nullptr);
    } else {
      outcome = connection.error();
    }
    if (outcome.code() != StatusCode::kUnavailable ||
        std::chrono::steady_clock::now() + pause > give_up) {
      return outcome;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(500));
  }
}

Result<std::unique_ptr<PgConnection>> PgPool::Connect() const {
  return PgConnection::Connect(options_.conninfo, options_.answer_within);
}

uint64_t PgPool::reconnects() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reconnects_;
}

}  // namespace coffre::pgstore
