#pragma once
// TelemetryStore: the hub's device-to-cloud stream, split into partitions (default 4, ids
// "0".."3") by a stable hash of the device id, so one device's messages keep their order.
// Each message is sealed by the customer layer under its partition's current data key, with AAD
// binding hub, partition, sequence number and the chain link of the records before it (and,
// through the envelope header, the data key), then appended to the partition's log: a
// SegmentLog, or a log in PostgreSQL in cluster mode (infrastructure layer below, either way).
// A batch is durable when Commit returns: that is when the front end may acknowledge it;
// Commit also advances the partition's sealed head (TelemetryHeads).
// Integrity: before a partition first writes or serves, its log is compared with its head; what
// is missing or replaced is an IntegrityBreak, refused to readers and reported, while the rest
// of the partition, and every other one, keeps serving. Verify() checks every record.
// With device keys, each record is sealed under its device's subkey instead; a record whose
// device was erased is served as a marker saying so, and still has to chain.
// Cluster mode: hub nodes sharing the store all write every partition. A batch is then sealed
// for the place it gets under the partition's lock and committed at once (Append returns with
// it durable); heads are merged, never overwritten (TelemetryHeads::Merge); each node reads how
// far the others reached every 100 ms, waking its long polls (and before refusing a read past
// the end it knows).
// Thread-safety: one writer per partition at a time (the caller's partition threads); reads run
// concurrently.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "common/result.h"
#include "hub/device_keys.h"
#include "hub/hub_keys.h"
#include "hub/sequence_waiters.h"
#include "hub/telemetry_heads.h"
#include "hub/telemetry_record.h"
#include "storage/partition_log.h"
#include "storage/segment_log.h"

namespace coffre::hub {

struct TelemetryStoreOptions {
  std::string hub_name;  // bound into every record's AAD
  int partitions = 4;
  // Data-key rotation: a partition starts a new data key after this many records or this long,
  // whichever comes first (both far inside the 2^32-seal nonce budget of a key).
  uint64_t data_key_max_records = uint64_t{1} << 30;
  std::chrono::milliseconds data_key_max_age{std::chrono::hours(24)};
  storage::SegmentLogOptions log;
  // Where a partition's records are kept: null, a SegmentLog in the store's directory
  // (embedded mode); else this, e.g. PostgreSQL (cluster mode, pgstore/pg_telemetry_log.h).
  std::function<Result<std::unique_ptr<storage::PartitionLog>>(int partition)> open_log;
  // Each device's records sealed under its own key, for erasure (hub/device_keys.h); must
  // outlive the store. Null: under the partition's data key alone (as records written before
  // device keys, which stay readable either way).
  DeviceKeys* device_keys = nullptr;
};

struct StoredMessage {
  uint64_t sequence = 0;
  TelemetryMessage message;  // if erased: only device_id and enqueued_ms
  std::optional<DeviceErasure> erased;  // the record's device was erased: when, by whom
};

struct PartitionVerification {
  int partition = 0;
  uint64_t first = 0;            // the oldest record kept
  uint64_t end = 0;              // one past the last durable record
  bool anchored = false;         // a sealed head was found and compared
  uint64_t head_end = 0;         // what the head says was acknowledged
  uint64_t records_checked = 0;  // opened, and their links followed
  uint64_t records_erased = 0;   // links followed; their device's key was destroyed by an erasure
  std::vector<IntegrityBreak> breaks;  // the first ones found, at most 100
};

class TelemetryStore {
 public:
  // keys and kv (the metadata store, where the sealed heads are) must outlive the store.
  static Result<std::unique_ptr<TelemetryStore>> Open(const std::filesystem::path& dir,
                                                      HubKeys& keys, storage::KvStore& kv,
                                                      TelemetryStoreOptions options);
  ~TelemetryStore();

  int partitions() const { return static_cast<int>(partitions_.size()); }
  // Stable across restarts and machines: FNV-1a of the id, modulo the partition count.
  int PartitionOf(std::string_view device_id) const;

  // Seals and appends the messages (all of `partition`), returns their sequence numbers. They
  // are durable, and readable, only after Commit(partition) (in cluster mode already when
  // Append returns; Commit then advances the head).
  Result<std::vector<uint64_t>> Append(int partition, std::span<const TelemetryMessage> messages);
  Status Commit(int partition);

  // Durable messages of a partition from `from` on, stopping before a break. DATA_LOSS if a
  // record fails to open or does not follow the one before it, or `from` is in a break.
  Result<std::vector<StoredMessage>> Read(int partition, uint64_t from, size_t max_messages,
                                          size_t max_bytes);
  // The first durable message enqueued at or after time_ms (end_sequence if none). Enqueued
  // times never decrease within a partition: Append moves a message's time forward if needed.
  Result<uint64_t> SeekTime(int partition, int64_t time_ms) const;
  uint64_t end_sequence(int partition) const;    // one past the last durable message
  // Retention: deletes the partition's whole segments all of whose messages were enqueued
  // before time_ms (never the active one). Same thread as Append. Returns how many went.
  Result<size_t> ExpireBefore(int partition, int64_t time_ms);
  uint64_t begin_sequence(int partition) const;  // the oldest message still retained
  uint64_t disk_bytes(int partition) const;      // its segment files' allocated bytes

  // For backups (hub/hub_backups.h): while a hold lives, ExpireBefore removes nothing (an
  // expiry already running finishes before the hold is taken), so the records a snapshot's
  // heads count stay readable.
  class RetentionHold {
   public:
    explicit RetentionHold(TelemetryStore& store);
    ~RetentionHold();
    RetentionHold(const RetentionHold&) = delete;
    RetentionHold& operator=(const RetentionHold&) = delete;

   private:
    TelemetryStore& store_;
  };
  // The durable records of a partition as stored (sealed), from `from` on; records missing
  // between segments at `from` are skipped. INVALID_ARGUMENT outside the retained range.
  Result<std::vector<storage::StoredRecord>> ReadSealed(int partition, uint64_t from,
                                                        size_t max_records, size_t max_bytes) const;

  // A long poll without a thread: calls `ready` once, when a message at `from` or later is
  // durable (right away if one is), at `deadline`, or on WakeWaiters(). `ready` runs on the
  // committing writer's thread or a timer thread: keep it short (SequenceWaiters).
  void AwaitMessages(int partition, uint64_t from, std::chrono::steady_clock::time_point deadline,
                     SequenceWaiters::Callback ready);
  // Ends every wait now (the hub became Inaccessible).
  void WakeWaiters();
  size_t awaiting() const { return waiters_.waiting(); }  // waits set up now

  // Compares the partition's log with its sealed head, once (UNAVAILABLE while the keys are
  // locked; Append and Read do it first themselves). Logs what it finds.
  Status Check(int partition);
  // The breaks known now: records missing between segments, and what Check found.
  Result<std::vector<IntegrityBreak>> Breaks(int partition);
  // Reads every record of the partition: opens it and follows its chain link. Stops as soon
  // as `cancelled` (checked between batches) says so, UNAVAILABLE.
  Result<PartitionVerification> Verify(int partition,
                                       const std::function<bool()>& cancelled = nullptr);

 private:
  struct Partition;
  TelemetryStore(HubKeys& keys, storage::KvStore& kv, TelemetryStoreOptions options);
  Status PrepareToWrite(int partition);
  // Seals `messages` as records `next`, `next` + 1, ... chained from `link` (left after the
  // last), their times never before `last_enqueued_ms` (left at the last one's).
  Result<std::vector<storage::LogRecord>> SealRecords(int partition, Partition& part,
                                                      std::span<const TelemetryMessage> messages,
                                                      uint64_t next, storage::ChainLink& link,
                                                      int64_t& last_enqueued_ms);
  // Append for a log other hub nodes write too (storage::PartitionLog::AppendShared).
  Result<std::vector<uint64_t>> AppendShared(int partition, Partition& part,
                                             std::span<const TelemetryMessage> messages);
  // Several writers: reads how far the others' commits reached, every kRefreshEvery, and
  // wakes the waits they answer.
  void FollowOtherWriters();
  // Stores `head` as the partition's, and takes it as part.head once stored.
  Status StoreHead(Partition& part, int partition, const TelemetryHead& head, bool sync);
  // Why a record did not open, beyond its status.
  struct NotOpened {
    DeviceErasure erasure;            // NOT_FOUND: the erasure that destroyed its device's key
    bool device_key_missing = false;  // DATA_LOSS: its device's key is gone, and no erasure says so
  };
  // NOT_FOUND if the record's device was erased; DATA_LOSS if it cannot be opened. `why`, if
  // given, says more.
  Result<Bytes> OpenRecord(int partition, const storage::StoredRecord& r,
                           NotOpened* why = nullptr) const;
  std::string Aad(int partition, uint64_t sequence) const;
  void AppendAad(std::string& out, int partition, uint64_t sequence) const;

  HubKeys& keys_;
  TelemetryHeads heads_;
  TelemetryStoreOptions options_;
  std::vector<std::unique_ptr<Partition>> partitions_;
  SequenceWaiters waiters_;
  std::mutex retention_mu_;   // held through each ExpireBefore
  int retention_holds_ = 0;   // guarded by retention_mu_
  std::mutex follow_mu_;
  std::condition_variable follow_stop_cv_;
  bool follow_stop_ = false;  // guarded by follow_mu_
  std::thread follower_;      // FollowOtherWriters, with a shared log
};

}  // namespace coffre::hub
