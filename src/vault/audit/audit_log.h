#pragma once
// AuditLog: the vault's append-only audit trail, DIR/audit.log then audit.log.2, .3, ...
// (audit_files.h), one JSON line per request, HMAC-chained under a key derived from the vault
// master key (kAuditKeyLabel), with the head (entry count, last MAC, file length, where each
// kept file starts) sealed in the SealedStore as "audit/head". Bounded: a file is closed at
// `max_file_bytes` and the oldest are dropped past `keep_files` / `keep_bytes`, the head
// recording what was dropped; requests that did not authenticate are sampled (audit_sampler.h).
// Format, crash rules and what a start does with a damaged log: docs/formats/audit-log.md.
//
// Durability: Append writes its line to the file at once (one write(2): a crash of the
// process loses nothing), and a background thread, every `sync_interval`, fdatasyncs the file
// and only then seals the new head. So the head never covers bytes that are not on disk, and
// a power loss can lose at most the entries of the last interval, which no head covered.
// Thread-safe.

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "vault/audit/audit_chain.h"
#include "vault/audit/audit_entry.h"
#include "vault/audit/audit_files.h"
#include "vault/audit/audit_sampler.h"
#include "vault/seal/sealed_store.h"

namespace coffre::vault {

struct AuditLogOptions {
  std::chrono::milliseconds sync_interval{200};
  const Clock* clock = nullptr;  // entry times; null: the system clock. Must outlive the log.
  uint64_t max_file_bytes = uint64_t{64} << 20;  // a file is closed before it passes this
  uint64_t keep_files = 16;  // files kept, the current one included (>= 1)
  uint64_t keep_bytes = 0;   // bytes kept, all files, the current one at its full size (0: no
                             // limit but keep_files)
  AuditSamplerOptions sampling;  // for AppendUnauthenticated
};

class AuditLog {
 public:
  // Opens (or creates) the log whose first file is `path` and checks its tail against the
  // sealed head, following the files written after it: an
  // unsynced tail that verifies is adopted, one that does not (a torn write) is moved to
  // `path`.rejected; damage the head proves (a shorter file, a changed last entry, a lost
  // head) is logged loudly and recorded as an "auditDamaged" entry, and the chain goes on from
  // the sealed head, so `Verify` keeps reporting the damage. store must outlive the log.
  static Result<std::unique_ptr<AuditLog>> Open(const std::filesystem::path& path,
                                                SealedStore& store, AuditLogOptions options = {});
  ~AuditLog();  // Close()
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Numbers, timestamps (entry.seq and time_ms are ignored), chains and writes `entry`. Never
  // fails the caller: a failed write is logged, and the entry is not in the chain.
  void Append(const AuditEntry& entry);
  // Append for a request that did not authenticate (no principal): the first few per client
  // address and interval are written, the rest counted into one entry per address
  // ({"principal":"(vault)","op":"unauthenticatedRequests","count":N,...}) when it ends.
  void AppendUnauthenticated(const AuditEntry& entry);

  // Every kept file, as far as written now, against the live head.
  AuditVerdict Verify() const;

  // The last `n` lines across the kept files, oldest first (unverified: Verify says whether
  // to trust them).
  // A line that is not an entry comes back with seq 0 and op "(malformed line)".
  Result<std::vector<AuditEntry>> Tail(size_t n) const;

  uint64_t count() const;  // entries in the chain (dropped ones included)
  uint64_t files() const;  // files kept
  uint64_t bytes() const;  // their size, as far as written
  // What Open found wrong ("" if nothing): the damage entry's code.
  const std::string& damage_at_open() const { return damage_at_open_; }

  // fdatasync, then seal the head: what the background thread does every interval.
  Status Sync();
  // Stops the background thread and syncs a last time. Append is a no-op afterwards.
  void Close();

 private:
  static constexpr const char* kLogComponent = "audit";  // its lines in the process log

  AuditLog(std::filesystem::path base, SealedStore& store, crypto::SecretBytes key,
           AuditLogOptions options);
  Status Recover();
  Status OpenCurrent(bool create);  // fd_ on file head_.file()
  Status RejectFrom(uint64_t offset, uint64_t size);
  void SetAsideFilesAfter(uint64_t file);
  Status AppendLocked(std::string_view fields);  // mu_ held
  Status RotateLocked();                          // mu_ held
  void ApplyRetentionLocked();                    // mu_ held
  uint64_t OlderFilesBytesLocked() const;         // mu_ held: the kept files but the current
  void FlushSamples(bool all);
  void SyncLoop();
  std::filesystem::path PathOf(uint64_t file) const { return AuditFilePath(base_, file); }

  const std::filesystem::path base_;
  SealedStore& store_;
  const crypto::SecretBytes key_;
  AuditLogOptions options_;
  AuditSampler sampler_;
  std::string damage_at_open_;

  mutable std::mutex mu_;
  UniqueFd fd_;                     // the current file: guarded by mu_ (swapped at rotation)
  AuditHead head_;                  // the live chain: guarded by mu_
  std::vector<UniqueFd> retired_;   // closed files not yet synced: guarded by mu_
  std::vector<uint64_t> doomed_;    // dropped files to remove once a head without them is
                                    // sealed: guarded by mu_
  bool dir_dirty_ = false;          // a file was created since the last sync: guarded by mu_
  bool closed_ = false;             // guarded by mu_
  // Readers of older files (Verify, Tail) hold it shared; Sync removes dropped files under it.
  mutable std::shared_mutex files_mu_;
  uint64_t lost_ = 0;               // entries that could not be written: guarded by mu_
  uint64_t next_loss_report_ = 1;   // guarded by mu_

  std::mutex sync_mu_;                  // one Sync at a time
  std::optional<uint64_t> synced_seq_;  // what the sealed head covers: guarded by sync_mu_
  std::string last_sync_error_;  // guarded by sync_mu_: each failure is logged once

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;  // guarded by stop_mu_
  std::thread syncer_;
};

}  // namespace coffre::vault
