#pragma once
// PgPartitionLog: telemetry partitions in PostgreSQL, the first piece of cluster mode. A batch
// (one group commit) is one transaction that reserves its sequence range under the partition
// row's lock, so sequence numbers are dense and in commit order: a reader tailing by sequence
// never meets a gap that a later commit fills. A batch carries an id; appending an id already
// committed returns its range and writes nothing, so a retry after an unknown commit outcome
// (the connection lost during COMMIT) never duplicates. PostgreSQL only ever sees the records'
// bytes as given (sealed by the hub). Not thread-safe: one per connection.
//
// Tables (made by Create, idempotent):
//   coffre_partitions (partition int PRIMARY KEY, next_sequence bigint)
//   coffre_records    (partition int, sequence bigint, record bytea, PRIMARY KEY (partition, sequence))
//   coffre_batches    (batch_id text PRIMARY KEY, partition int, first_sequence bigint, records int)

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"
#include "pgstore/pg_connection.h"

namespace coffre::pgstore {

struct PgRecord {
  uint64_t sequence = 0;
  Bytes record;
};

class PgPartitionLog {
 public:
  // The tables and `partitions` partition rows (existing ones are kept).
  static Status Create(PgConnection& db, int partitions);
  explicit PgPartitionLog(PgConnection& db) : db_(db) {}

  // The first sequence number of `records`, committed when this returns. Retried with the
  // same batch id after any outcome: the first commit's range, nothing written again.
  Result<uint64_t> Append(int partition, const std::string& batch_id,
                          const std::vector<Bytes>& records);
  // Up to `max` committed records from `from` on, in sequence order.
  Result<std::vector<PgRecord>> Read(int partition, uint64_t from, size_t max);
  // One past the last committed sequence number.
  Result<uint64_t> End(int partition);

 private:
  PgConnection& db_;
};

}  // namespace coffre::pgstore
