#pragma once
// PgReconnectingLog: a PgPartitionLog that outlives its connection, for a store that fails
// over (cluster mode's Patroni cluster behind a multi-host conninfo with
// target_session_attrs=read-write). An operation that fails UNAVAILABLE (the connection lost,
// no primary yet, the server shutting down) is retried on a new connection, so on whichever
// node is primary by then, until `give_up_after` has passed since its first failure. Append is
// retried with the same batch id, which PgPartitionLog makes idempotent: a batch whose COMMIT
// outcome was lost with the old primary is committed once, whichever way it went. Other errors
// return at once. Not thread-safe: one per writer.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"
#include "pgstore/pg_connection.h"
#include "pgstore/pg_partition_log.h"

namespace coffre::pgstore {

struct PgReconnectOptions {
  std::chrono::milliseconds give_up_after{30000};
  std::chrono::milliseconds retry_every{100};  // between attempts, so a failover is not hammered
};

class PgReconnectingLog {
 public:
  explicit PgReconnectingLog(std::string conninfo, PgReconnectOptions options = {})
      : conninfo_(std::move(conninfo)), options_(options) {}

  Result<uint64_t> Append(int partition, const std::string& batch_id,
                          const std::vector<Bytes>& records);
  Result<std::vector<PgRecord>> Read(int partition, uint64_t from, size_t max);
  Result<uint64_t> End(int partition);

  // When the current connection was made (steady clock): what an operation that just
  // succeeded ran on.
  std::chrono::steady_clock::time_point connected_at() const { return connected_at_; }
  int reconnects() const { return reconnects_; }

 private:
  template <typename T>
  Result<T> WithRetries(const std::function<Result<T>(PgPartitionLog&)>& operation);

  std::string conninfo_;
  PgReconnectOptions options_;
  std::unique_ptr<PgConnection> db_;
  std::unique_ptr<PgPartitionLog> log_;
  std::chrono::steady_clock::time_point connected_at_{};
  int reconnects_ = 0;
};

}  // namespace coffre::pgstore
