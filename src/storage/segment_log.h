#pragma once
// SegmentLog: one telemetry partition on disk, an append-only sequence of records numbered
// 0, 1, 2, ... kept in preallocated segment files. Storage sees opaque bytes: records arrive
// already sealed by the customer layer. Layout: docs/formats/segment-log.md.
//
// Appends go to the page cache; Sync() makes everything appended so far durable with one
// fdatasync (group commit: the partition's writer appends a batch, syncs once, then acks the
// batch); after a failed one, the next writes the unsynced bytes again first. After a crash, Open() keeps the longest run of intact records; the first append (or
// ResumeAt) wipes what follows, so that no stale record can ever reappear. Each record carries
// its chain link (storage/record_chain.h), given by the caller. Records missing between
// segments are reported (gaps()) and refused to readers. Whole segments expire by time.
// Thread-safety: one writer thread (Append, Sync, ExpireBefore); Read may run on any thread
// and sees records up to the last Sync.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "crypto/secret_bytes.h"
#include "storage/disk_reserve.h"
#include "storage/partition_log.h"
#include "storage/record_chain.h"
#include "storage/segment_files.h"

namespace coffre::storage {

struct SegmentLogOptions {
  uint64_t segment_bytes = uint64_t{64} << 20;  // preallocated size of each segment
  // The infrastructure layer (storage/file_cipher.h): records encrypted under a per-segment key
  // wrapped in the segment header. Null: records stored as given. Must outlive the log.
  const crypto::SecretBytes* service_key = nullptr;
  // Where the bytes go; null: the disk, through POSIX calls. Must outlive the log.
  SegmentFiles* files = nullptr;
  // A new segment is made only if its size leaves this reserve free; null: none. Must outlive
  // the log.
  DiskReserve* reserve = nullptr;
};

class SegmentLog : public PartitionLog {
 public:
  static Result<std::unique_ptr<SegmentLog>> Open(const std::filesystem::path& dir,
                                                  SegmentLogOptions options = {});
  ~SegmentLog();

  // The sequence the next appended record must carry (the customer layer seals with it).
  uint64_t next_sequence() const override { return next_sequence_; }
  // Records below this are durable (and readable).
  uint64_t durable_sequence() const override;
  uint64_t first_sequence() const override;  // the oldest record still kept

  // Before the first append: continue at `sequence` (at least next_sequence()). At the end of
  // the records, the crash tail is wiped; later (the caller knows records up to `sequence` were
  // acknowledged, so they are missing), a new segment starts there and the gap is reported.
  // Append calls ResumeAt(next_sequence()) itself if nobody did.
  Status ResumeAt(uint64_t sequence) override;
  // For a log that never held a record: its first record will be `sequence` (a restored
  // partition, whose older records retention had removed). Instead of ResumeAt.
  Status BeginAt(uint64_t sequence);
  // Appends records whose sequences continue next_sequence(), in order.
  Status Append(std::span<const LogRecord> records) override;
  Status Sync() override;

  // Up to `max_records` durable records from `from` on, at most `max_bytes` of payload (at least
  // one record if any). INVALID_ARGUMENT if `from` has expired or lies beyond the durable end.
  Result<std::vector<StoredRecord>> Read(uint64_t from, size_t max_records,
                                         size_t max_bytes) const override;

  // The first durable record enqueued at or after `time_ms`, or durable_sequence() if none is.
  // Assumes times never decrease along the log (TelemetryStore makes them so).
  Result<uint64_t> SeekTime(int64_t time_ms) const override;
  int64_t last_time_ms() const override;  // of the last appended record; 0 for an empty log

  // Deletes whole segments all of whose records are older than `time_ms` (never the one being
  // written). Returns how many segments went.
  Result<size_t> ExpireBefore(int64_t time_ms) override;
  // What first_sequence() would be after ExpireBefore(time_ms).
  uint64_t FirstSequenceAfterExpiry(int64_t time_ms) const override;

  size_t segment_count() const;
  // Disk space the segment files take now (allocated blocks: segments are preallocated).
  uint64_t disk_bytes() const override;

  // Records missing between the segments found at open, or skipped by ResumeAt: [from, to).
  std::vector<Gap> gaps() const override;

 private:
  struct Segment;
  SegmentLog(std::filesystem::path dir, SegmentLogOptions options);
  Status Recover();
  Status ScanSegment(Segment& segment);
  Status StartSegment(uint64_t first_sequence);
  Status WipeAfter(Segment& segment, uint64_t offset);
  Status SyncActive(Segment& segment);

  std::filesystem::path dir_;
  SegmentLogOptions options_;
  SegmentFiles& files_;
  mutable std::mutex mu_;                          // guards segments_ and durable_
  // Oldest first; the last is active. Shared so a reader keeps a segment (and its open file)
  // alive while an expiry removes it.
  std::vector<std::shared_ptr<Segment>> segments_;
  uint64_t next_sequence_ = 0;                     // writer thread only
  uint64_t durable_ = 0;                           // guarded by mu_
  std::vector<Gap> gaps_;                          // guarded by mu_
  bool resumed_ = false;                           // writer thread only
  Bytes scratch_;                                  // writer's staging buffer
  // Writer thread only: the active segment's bytes since its last good sync (as on disk), from
  // offset unsynced_at_, and whether a sync failed since (they are then written again).
  Bytes unsynced_;
  uint64_t unsynced_at_ = 0;
  bool rewrite_ = false;
};

}  // namespace coffre::storage
