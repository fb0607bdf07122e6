#pragma once
// HubBackups: backups of a running hub (`coffre hub backup`, /$coffre/backups). One is made at
// a time, on a thread of its own, into DIR/<id>.cbak (mode 0600; format: hub/backup_stream.h),
// and kept there for its caller to download and delete; at most kMaxKeptBackups are kept.
//
// What a backup holds is the hub at one moment: every metadata row (registry, twins, C2D,
// checkpoints, policies, key state, the telemetry heads and the rows' digests) read from one
// snapshot of the metadata store, and each partition's records up to the end its head in that
// snapshot counts, read while retention is held. Devices go on sending meanwhile; what comes
// after the snapshot is in the next backup. A backup fails if the hub's keys lock (the
// customer's key became inaccessible: the hub obeys at once) or the hub stops.
// Backups of an earlier run are deleted when the hub starts. Thread-safe.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "hub/hub_keys.h"
#include "hub/telemetry_store.h"
#include "storage/disk_reserve.h"
#include "storage/kv_store.h"

namespace coffre::hub {

inline constexpr size_t kMaxKeptBackups = 4;

struct BackupStatus {
  std::string id;
  std::string state;  // "running", "succeeded" or "failed"
  std::string error;  // why it failed
  std::string requested_by;
  int64_t started_ms = 0;
  int64_t finished_ms = 0;  // 0 while running
  uint64_t rows = 0;            // metadata rows written
  uint64_t records = 0;         // telemetry records written
  uint64_t records_total = 0;   // how many the backup will hold (0 until known)
  uint64_t bytes = 0;           // of the file so far
};

class HubBackups {
 public:
  // Everything must outlive the backups; `dir` is created (mode 0700) and emptied.
  // `destroy_deleted` (RocksKvStore::DestroyDeletedData) runs after each backup: an erasure made
  // while the snapshot was held could not scrub the store's files; null: nothing runs.
  HubBackups(storage::KvStore& kv, HubKeys& keys, TelemetryStore& store, std::string hub_name,
             std::filesystem::path dir, storage::DiskReserve* reserve, Clock& clock,
             std::function<Status()> destroy_deleted = nullptr);
  ~HubBackups();  // Stop()

  // Starts one. FAILED_PRECONDITION while another runs or kMaxKeptBackups are kept.
  Result<BackupStatus> Start(std::string_view requested_by);
  Result<BackupStatus> Get(std::string_view id) const;  // NOT_FOUND
  std::vector<BackupStatus> List() const;
  // Up to `max_bytes` of a succeeded backup's file from `offset` (empty at its end).
  // FAILED_PRECONDITION unless it succeeded.
  Result<Bytes> Read(std::string_view id, uint64_t offset, size_t max_bytes) const;
  // Deletes the file (a running backup is cancelled first).
  Status Delete(std::string_view id);
  // Cancels a running backup and waits for its thread.
  void Stop();

  std::filesystem::path PathOf(std::string_view id) const;

 private:
  struct Job;
  void Run(Job& job);
  Status Write(Job& job);
  Job* Find(std::string_view id) const;  // requires mu_

  storage::KvStore& kv_;
  HubKeys& keys_;
  TelemetryStore& store_;
  std::string hub_name_;
  std::filesystem::path dir_;
  storage::DiskReserve* reserve_;
  Clock& clock_;
  std::function<Status()> destroy_deleted_;
  std::mutex worker_mu_;  // Start, Delete and Stop, one at a time; taken before mu_
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Job>> jobs_;  // guarded by mu_
  std::thread worker_;  // guarded by worker_mu_: the running backup's, joined before the next
  std::atomic<bool> stopping_{false};
};

}  // namespace coffre::hub
