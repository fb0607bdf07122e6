#include "pgstore/pg_reconnecting_log.h"

#include <thread>

namespace coffre::pgstore {

template <typename T>
Result<T> PgReconnectingLog::WithRetries(const std::function<Result<T>(PgPartitionLog&)>& operation) {
  using Clock = std::chrono::steady_clock;
  std::optional<Clock::time_point> give_up;
  for (;;) {
    Status failed = Status::Ok();
    if (!log_) {
      Result<std::unique_ptr<PgConnection>> db = PgConnection::Connect(conninfo_);
      if (db.has_value()) {
        db_ = std::move(*db);
        log_ = std::make_unique<PgPartitionLog>(*db_);
        connected_at_ = Clock::now();
        ++reconnects_;
      } else {
        failed = db.error();
      }
    }
    if (log_) {
      Result<T> result = operation(*log_);
      if (result.has_value() || result.error().code() != StatusCode::kUnavailable) return result;
      failed = result.error();
      // Whatever state the session is in, the next attempt starts on a fresh one.
      log_.reset();
      db_.reset();
    }
    if (failed.code() != StatusCode::kUnavailable) return failed;
    if (!give_up) give_up = Clock::now() + options_.give_up_after;
    if (Clock::now() >= *give_up) {
      return failed.WithContext("still failing after " +
                                std::to_string(options_.give_up_after.count()) + " ms of retries");
    }
    std::this_thread::sleep_for(options_.retry_every);
  }
}

Result<uint64_t> PgReconnectingLog::Append(int partition, const std::string& batch_id,
                                           const std::vector<Bytes>& records) {
  return WithRetries<uint64_t>(
      [&](PgPartitionLog& log) { return log.Append(partition, batch_id, records); });
}

Result<std::vector<PgRecord>> PgReconnectingLog::Read(int partition, uint64_t from, size_t max) {
  return WithRetries<std::vector<PgRecord>>(
      [&](PgPartitionLog& log) { return log.Read(partition, from, max); });
}

Result<uint64_t> PgReconnectingLog::End(int partition) {
  return WithRetries<uint64_t>([&](PgPartitionLog& log) { return log.End(partition); });
}

}  // namespace coffre::pgstore
