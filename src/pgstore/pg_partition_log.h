#pragma once
// PgPartitionLog: telemetry partitions in PostgreSQL, the SQL of cluster mode's log. A batch
// (one group commit) is one transaction (one call of the function coffre_append, made by
// Create: one round trip) that reserves its sequence range under the partition
// row's lock, so sequence numbers are dense and in commit order: a reader tailing by sequence
// never meets a gap that a later commit fills. A batch carries an id; appending an id already
// committed returns its range and writes nothing, so a retry after an unknown commit outcome
// (the connection lost during COMMIT) never duplicates. A writer that numbered its records
// itself (the hub seals each record for its place) says where its batch must start, and is
// refused if another writer got there first. PostgreSQL only ever sees the records' bytes as
// given (sealed by the hub). Not thread-safe: one per connection.
//
// Tables (made by Create, idempotent):
//   coffre_partitions (partition int PRIMARY KEY, next_sequence bigint, first_sequence bigint,
//                      bytes bigint, block_records bigint, link bytea, last_time_ms bigint:
//                      the tail shared writers seal from, null where not known)
//   coffre_records    (partition int, sequence bigint, time_ms bigint, record bytea,
//                      PRIMARY KEY (partition, sequence)), indexed by (partition, time_ms);
//                      partitioned by partition, then into blocks of block_records sequence
//                      numbers (tables coffre_records_pP_bB, made as records reach them), so
//                      that retention drops whole tables
//   coffre_batches    (batch_id text PRIMARY KEY, partition int, first_sequence bigint, records int)
//   coffre_gaps       (partition int, from_sequence bigint, to_sequence bigint): records known
//                      to be missing (acknowledged once, not found later)

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"
#include "pgstore/pg_connection.h"

namespace coffre::pgstore {

struct PgRecord {
  uint64_t sequence = 0;  // read: the record's; appended: ignored (the batch's range decides)
  int64_t time_ms = 0;
  Bytes record;
};

// A partition's row: what is kept, where the next record goes, and how many bytes it holds.
struct PgPartitionState {
  uint64_t first = 0;
  uint64_t next = 0;
  uint64_t bytes = 0;
  uint64_t block_records = 0;  // records per block (fixed when the partition is made)
};

struct PgDeleted {
  uint64_t blocks = 0;
  uint64_t records = 0;
  uint64_t bytes = 0;
};

// A partition's tail as a shared writer (several hub nodes) left it: sealed by that writer
// (PostgreSQL sees no link), and the time of its last record.
struct PgTail {
  int64_t last_time_ms = 0;
  std::optional<Bytes> link;  // nullopt: unknown (written by Append without a tail, or a gap)
};

class PgPartitionLog {
 public:
  // The tables and `partitions` partition rows (existing ones are kept, with their blocks).
  static constexpr uint64_t kDefaultBlockRecords = uint64_t{1} << 20;
  static Status Create(PgConnection& db, int partitions,
                       uint64_t block_records = kDefaultBlockRecords);
  // The same for the listed partitions only (a cluster holding some of a hub's partitions).
  static Status Create(PgConnection& db, std::span<const int> partitions,
                       uint64_t block_records = kDefaultBlockRecords);
  // The partitions whose row says records were ever appended (next sequence past 0), in order;
  // none where the tables are not made yet.
  static Result<std::vector<int>> Written(PgConnection& db);
  explicit PgPartitionLog(PgConnection& db) : db_(db) {}

  // The first sequence number of `records`, committed when this returns. Retried with the
  // same batch id after any outcome: the first commit's range, nothing written again. With
  // `expect_first`, FAILED_PRECONDITION unless the batch starts there.
  Result<uint64_t> Append(int partition, const std::string& batch_id,
                          std::span<const PgRecord> records,
                          std::optional<uint64_t> expect_first = std::nullopt);
  Result<uint64_t> Append(int partition, const std::string& batch_id,
                          const std::vector<Bytes>& records);

  // Several writers: in the caller's transaction, the partition's row locked until it ends;
  // where the next batch goes, and where `batch_id` went if it was committed already (a retry
  // after an unknown outcome).
  struct LockedTail {
    uint64_t next = 0;
    PgTail tail;
    std::optional<uint64_t> committed_first;
  };
  Result<LockedTail> LockTail(int partition, const std::string& batch_id);
  // Append at `expect_first`, leaving `tail` as the partition's.
  Result<uint64_t> AppendWithTail(int partition, const std::string& batch_id,
                                  std::span<const PgRecord> records, uint64_t expect_first,
                                  const PgTail& tail);
  // Up to `max` committed records from `from` on, in sequence order, at most `max_bytes` of
  // them (at least one).
  Result<std::vector<PgRecord>> Read(int partition, uint64_t from, size_t max,
                                     size_t max_bytes = SIZE_MAX);
  // One past the last committed sequence number.
  Result<uint64_t> End(int partition);
  Result<PgPartitionState> State(int partition);
  // The time of the partition's last record (0 if none), and the first record at or after
  // `time_ms` (nullopt if none).
  Result<int64_t> LastTime(int partition);
  Result<std::optional<uint64_t>> FirstAtOrAfter(int partition, int64_t time_ms);

  // Continues the partition at `sequence` (past its end), recording [end, sequence) as missing.
  // FAILED_PRECONDITION if its end is no longer `expect_end` (another writer).
  Status SkipTo(int partition, uint64_t expect_end, uint64_t sequence);
  // The records missing: [from, to) pairs.
  Result<std::vector<std::pair<uint64_t, uint64_t>>> Gaps(int partition);
  // Drops the blocks before `sequence` (a block's first sequence), with the batches and gaps
  // they end: retention in whole tables.
  Result<PgDeleted> DropBlocksBefore(int partition, uint64_t sequence);

 private:
  Result<uint64_t> AppendWith(int partition, const std::string& batch_id,
                              std::span<const PgRecord> records,
                              std::optional<uint64_t> expect_first, const PgTail* tail);

  PgConnection& db_;
};

}  // namespace coffre::pgstore
