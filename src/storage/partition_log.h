#pragma once
// PartitionLog: one telemetry partition as the hub's TelemetryStore sees it, whatever keeps it:
// an append-only run of records numbered 0, 1, 2, ... over opaque bytes (records arrive sealed
// by the customer layer). SegmentLog keeps it in files on the local disk (embedded mode);
// pgstore's PgTelemetryLog in PostgreSQL (cluster mode).
// Appends are staged; Sync() makes everything appended so far durable at once (group commit:
// the partition's writer appends a batch, syncs once, then acknowledges the batch).
// Thread-safety: one writer thread (ResumeAt, Append, Sync, ExpireBefore); the reads
// may run on any thread and see records up to the last Sync.
//
// A log that several writers share (hub nodes on one cluster store: shared_writers()) cannot
// let a writer seal for a place it only believes is next: AppendShared hands the writer the
// place under the partition's lock and commits what it seals there in the same transaction.
// Its reads see other writers' records after Refresh (or the log's own polling).

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"
#include "storage/record_chain.h"

namespace coffre::storage {

struct LogRecord {
  uint64_t sequence = 0;
  int64_t time_ms = 0;  // enqueued time, milliseconds since the epoch
  ByteSpan payload;
  ChainLink link{};     // of the records before this one
};

// Where a shared log's next batch goes, read under the partition's lock.
struct AppendPosition {
  uint64_t next = 0;                   // the first record's sequence
  int64_t last_time_ms = 0;            // of the last record (0: none)
  std::optional<ChainLink> link;       // after the last record; nullopt if the store has none
};

struct StoredRecord {
  uint64_t sequence = 0;
  int64_t time_ms = 0;
  Bytes payload;
  ChainLink link{};
  bool linked = false;  // false for a record of a segment written before links existed
};

class PartitionLog {
 public:
  virtual ~PartitionLog() = default;

  // The sequence the next appended record must carry (the customer layer seals with it).
  virtual uint64_t next_sequence() const = 0;
  // Records below this are durable (and readable).
  virtual uint64_t durable_sequence() const = 0;
  virtual uint64_t first_sequence() const = 0;  // the oldest record still kept

  // Before the first append: continue at `sequence` (at least next_sequence()). Past the end
  // of the records (the caller knows records up to `sequence` were acknowledged, so they are
  // missing), the gap is reported. Append calls ResumeAt(next_sequence()) itself if nobody did.
  virtual Status ResumeAt(uint64_t sequence) = 0;
  // Appends records whose sequences continue next_sequence(), in order.
  virtual Status Append(std::span<const LogRecord> records) = 0;
  virtual Status Sync() = 0;

  // Up to `max_records` durable records from `from` on, at most `max_bytes` of payload (at least
  // one record if any). INVALID_ARGUMENT if `from` has expired or lies beyond the durable end.
  virtual Result<std::vector<StoredRecord>> Read(uint64_t from, size_t max_records,
                                                 size_t max_bytes) const = 0;

  // The first durable record enqueued at or after `time_ms`, or durable_sequence() if none is.
  // Assumes times never decrease along the log (TelemetryStore makes them so).
  virtual Result<uint64_t> SeekTime(int64_t time_ms) const = 0;
  virtual int64_t last_time_ms() const = 0;  // of the last appended record; 0 for an empty log

  // Deletes the oldest records, in whole units of the log's keeping (segments, time ranges),
  // all of whose records are older than `time_ms`; never the newest record. Returns how many
  // units went.
  virtual Result<size_t> ExpireBefore(int64_t time_ms) = 0;
  // What first_sequence() would be after ExpireBefore(time_ms).
  virtual uint64_t FirstSequenceAfterExpiry(int64_t time_ms) const = 0;

  // The space the partition takes in its store now.
  virtual uint64_t disk_bytes() const = 0;

  // Records missing (found at open, or skipped by ResumeAt): [from, to).
  struct Gap {
    uint64_t from = 0;
    uint64_t to = 0;
  };
  virtual std::vector<Gap> gaps() const = 0;

  // Several writers: see the top. `seal` gets the position and returns the batch's records
  // (sequences from position.next, links chained from position.link); they are committed
  // before AppendShared returns (the first sequence). `seal` may run again (after a lost
  // connection, at a new position): only its last run's records are stored. Its own error is
  // returned and nothing is written.
  virtual bool shared_writers() const { return false; }
  using SealAt = std::function<Result<std::vector<LogRecord>>(const AppendPosition&)>;
  virtual Result<uint64_t> AppendShared(const SealAt& seal) {
    (void)seal;
    return Unimplemented("this log has one writer: Append and Sync");
  }
  // Reads the log's end and start from its store now (other writers' commits).
  virtual Status Refresh() { return Status::Ok(); }
};

}  // namespace coffre::storage
