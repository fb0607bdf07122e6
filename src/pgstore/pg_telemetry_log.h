#pragma once
// PgTelemetryLog: one telemetry partition of the hub kept in PostgreSQL (cluster mode), as the
// storage::PartitionLog the hub's TelemetryStore writes and reads. Append stages the batch,
// each record sealed by the infrastructure layer (PgRowCipher, AAD: partition and sequence)
// with its chain link inside; Sync commits the batch as one transaction (PgPartitionLog) with
// an id of its own, retried through failovers by the pool with the same id, so an unknown
// commit outcome never writes it twice. The batch must start where this log left off: a
// second writer of the partition is refused (FAILED_PRECONDITION), never interleaved.
// Hub nodes sharing the store write through AppendShared (storage/partition_log.h): the
// batch is sealed for the place it gets under the partition's row lock and committed in the
// same transaction, with the partition's tail (the chain link after it, sealed by the row
// cipher, and its last time) for the next writer. Refresh reads the end other nodes reached.
// PostgreSQL sees per record: partition, sequence, enqueued time, size, ciphertext.
// Retention drops whole blocks of records (tables: pgstore/pg_partition_log.h) older than the
// cut-off.
// Thread-safety: as storage::PartitionLog (one writer; reads on any thread).

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pgstore/pg_partition_log.h"
#include "pgstore/pg_pool.h"
#include "pgstore/pg_row_cipher.h"
#include "storage/partition_log.h"

namespace coffre::pgstore {

class PgTelemetryLog : public storage::PartitionLog {
 public:
  // pool and cipher must outlive the log. The partition's row must exist (PgPartitionLog::Create).
  static Result<std::unique_ptr<PgTelemetryLog>> Open(PgPool& pool, PgRowCipher& cipher,
                                                      int partition);

  uint64_t next_sequence() const override { return next_; }
  uint64_t durable_sequence() const override { return durable_; }
  uint64_t first_sequence() const override { return first_; }
  Status ResumeAt(uint64_t sequence) override;
  Status Append(std::span<const storage::LogRecord> records) override;
  Status Sync() override;
  Result<std::vector<storage::StoredRecord>> Read(uint64_t from, size_t max_records,
                                                  size_t max_bytes) const override;
  Result<uint64_t> SeekTime(int64_t time_ms) const override;
  int64_t last_time_ms() const override { return last_time_ms_; }
  Result<size_t> ExpireBefore(int64_t time_ms) override;
  uint64_t FirstSequenceAfterExpiry(int64_t time_ms) const override;
  uint64_t disk_bytes() const override { return bytes_; }
  std::vector<Gap> gaps() const override;
  bool shared_writers() const override { return true; }
  Result<uint64_t> AppendShared(const SealAt& seal) override;
  Status Refresh() override { return RefreshFromStore(); }

 private:
  PgTelemetryLog(PgPool& pool, PgRowCipher& cipher, int partition)
      : pool_(pool), cipher_(cipher), partition_(partition) {}
  std::string Where(uint64_t sequence) const;
  std::string TailWhere() const;  // the sealed link's AAD
  // A record as stored in its row: the chain link, then its bytes, under the row cipher.
  Result<Bytes> SealRow(const storage::LogRecord& r);
  Result<storage::StoredRecord> OpenRow(const PgRecord& row) const;
  // The link after the last record, read under the lock: nullopt if it is not at `next` - 1
  // (a gap, or nothing stored yet past a start).
  Result<std::optional<storage::ChainLink>> LinkFromLastRecord(PgPartitionLog& sql, uint64_t next);
  Status RefreshFromStore() const;

  PgPool& pool_;
  PgRowCipher& cipher_;
  const int partition_;
  uint64_t block_records_ = 1;  // set at Open
  // Raised by this log's commits and retention, and by Refresh (other nodes').
  mutable std::atomic<uint64_t> durable_{0};
  mutable std::atomic<uint64_t> first_{0};
  mutable std::atomic<uint64_t> bytes_{0};
  mutable std::mutex gaps_mu_;
  std::vector<Gap> gaps_;  // guarded by gaps_mu_

  // Writer thread only.
  uint64_t next_ = 0;
  int64_t last_time_ms_ = 0;
  bool resumed_ = false;
  std::vector<PgRecord> staged_;  // appended, not committed
  Bytes row_;                     // reused: a record's link and bytes, before the row cipher
  std::string batch_id_;          // the staged batch's, kept through retries
};

}  // namespace coffre::pgstore
