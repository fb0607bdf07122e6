#include "vault/audit/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <utility>

#include "common/encoding.h"
#include "common/files.h"
#include "common/log.h"
#include "vault/audit/audit_file_reads.h"

namespace coffre::vault {
namespace {

using namespace audit_io;  // NOLINT: this folder's own file reads

// Tail() reads at most this much, whatever lines an attacker may have put at the end.
constexpr uint64_t kMaxTailBytes = 8 << 20;

}  // namespace

AuditLog::AuditLog(std::filesystem::path base, SealedStore& store, crypto::SecretBytes key,
                   AuditLogOptions options)
    : base_(std::move(base)), store_(store), key_(std::move(key)), options_(std::move(options)),
      sampler_(options_.sampling) {
  if (options_.clock == nullptr) options_.clock = &SystemClock();
  options_.keep_files = std::max<uint64_t>(options_.keep_files, 1);
}

Result<std::unique_ptr<AuditLog>> AuditLog::Open(const std::filesystem::path& path,
                                                 SealedStore& store, AuditLogOptions options) {
  if (options.max_file_bytes < 4096) {
    return InvalidArgument("the audit log's file size limit must be at least 4 KiB");
  }
  COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes key, store.DeriveKey(kAuditKeyLabel));
  std::unique_ptr<AuditLog> log(new AuditLog(path, store, std::move(key), std::move(options)));
  COFFRE_RETURN_IF_ERROR(log->Recover());
  COFFRE_RETURN_IF_ERROR(log->Sync());
  log->syncer_ = std::thread([raw = log.get()] { raw->SyncLoop(); });
  return log;
}

Status AuditLog::OpenCurrent(bool create) {
  std::filesystem::path path = PathOf(head_.file());
  bool existed = std::filesystem::exists(path);
  int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : O_CREAT);
  UniqueFd fd(::open(path.c_str(), flags, 0600));
  if (!fd) return ErrnoStatus("open " + path.string(), errno);
  if (fd_) retired_.push_back(std::move(fd_));
  fd_ = std::move(fd);
  if (create || !existed) dir_dirty_ = true;
  return Status::Ok();
}

AuditLog::~AuditLog() { Close(); }

Status AuditLog::RotateLocked() {
  head_.files.push_back(AuditFileStart{head_.file() + 1, head_.end.seq, head_.end.mac});
  Status opened = OpenCurrent(/*create=*/true);
  if (!opened.ok()) {
    head_.files.pop_back();
    return opened;
  }
  head_.end.offset = 0;
  ApplyRetentionLocked();
  return Status::Ok();
}

uint64_t AuditLog::OlderFilesBytesLocked() const {
  uint64_t total = 0;
  for (size_t i = 0; i + 1 < head_.files.size(); ++i) total += SizeOrZero(PathOf(head_.files[i].file));
  return total;
}

void AuditLog::ApplyRetentionLocked() {
  // The current file counts at its full size: the bound holds until the next rotation too.
  auto kept_bytes = [&] {
    return std::max(head_.end.offset, options_.max_file_bytes) + OlderFilesBytesLocked();
  };
  while (head_.files.size() > 1 &&
         (head_.files.size() > options_.keep_files ||
          (options_.keep_bytes > 0 && kept_bytes() > options_.keep_bytes))) {
    uint64_t file = head_.files.front().file;
    head_.dropped_bytes += SizeOrZero(PathOf(file));
    head_.files.erase(head_.files.begin());
    doomed_.push_back(file);
  }
}

Status AuditLog::AppendLocked(std::string_view fields) {
  uint64_t seq = head_.end.seq + 1;
  std::string body = AuditBody(seq, options_.clock->NowMillis(), fields);
  COFFRE_ASSIGN_OR_RETURN(AuditMac mac, ChainMac(key_, head_.end.mac, body));
  std::string line = AuditLine(body, mac) + "\n";
  if (head_.end.offset > 0 && head_.end.offset + line.size() > options_.max_file_bytes) {
    COFFRE_RETURN_IF_ERROR(RotateLocked());
  }
  uint64_t offset = head_.end.offset;
  // At our own offset: if anything else wrote to the file, Verify says so.
  Status written = Files().Write(fd_.get(), AsBytes(line), offset, PathOf(head_.file()));
  if (!written.ok()) {
    // Best effort: no torn line for the next entry to follow.
    if (::ftruncate(fd_.get(), static_cast<off_t>(offset)) != 0) {
      return written.WithContext("the audit log may end in a torn line");
    }
    return written;
  }
  head_.end = AuditPosition{seq, mac, offset + line.size()};
  return Status::Ok();
}

void AuditLog::Append(const AuditEntry& entry) {
  std::string fields = AuditFields(entry);  // the escaping, outside the lock
  std::lock_guard<std::mutex> guard(mu_);
  if (closed_) return;
  Status s = AppendLocked(fields);
  if (s.ok()) return;
  ++lost_;
  // 1, 10, 100, ... : a full disk must not flood the vault's own log.
  if (lost_ == next_loss_report_) {
    next_loss_report_ *= 10;
    LogLine(kLogComponent, "AUDIT ENTRY LOST (" + std::to_string(lost_) +
                               " so far): " + s.message());
  }
}

void AuditLog::AppendUnauthenticated(const AuditEntry& entry) {
  if (sampler_.Admit(entry.client, options_.clock->NowMillis())) Append(entry);
}

void AuditLog::FlushSamples(bool all) {
  for (const AuditSampler::Summary& s : sampler_.Drain(options_.clock->NowMillis(), all)) {
    AuditEntry entry;
    entry.principal = kVaultPrincipal;
    entry.op = "unauthenticatedRequests";
    entry.code = "Sampled";
    entry.client = s.source;
    entry.count = s.suppressed;
    Append(entry);
  }
}

AuditVerdict AuditLog::Verify() const {
  AuditHead head;
  {
    std::lock_guard<std::mutex> guard(mu_);
    head = head_;
  }
  std::shared_lock<std::shared_mutex> files(files_mu_);
  return VerifyAuditFiles(base_, key_, head, head.end.offset);
}

Result<std::vector<AuditEntry>> AuditLog::Tail(size_t n) const {
  AuditHead head;
  {
    std::lock_guard<std::mutex> guard(mu_);
    head = head_;
  }
  std::shared_lock<std::shared_mutex> files(files_mu_);
  std::vector<std::string> lines;
  uint64_t budget = kMaxTailBytes;
  for (size_t i = head.files.size(); i-- > 0 && lines.size() < n && budget > 0;) {
    std::filesystem::path path = PathOf(head.files[i].file);
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) break;  // a gap: Verify reports it
    uint64_t end = head.end.offset;
    if (i + 1 < head.files.size()) {
      COFFRE_ASSIGN_OR_RETURN(end, FileSize(fd.get(), path));
    }
    bool whole = false;
    COFFRE_ASSIGN_OR_RETURN(std::vector<std::string> older,
                            LastLines(fd.get(), end, n - lines.size(), budget, path, whole));
    lines.insert(lines.begin(), std::make_move_iterator(older.begin()),
                 std::make_move_iterator(older.end()));
    if (!whole) break;
  }
  std::vector<AuditEntry> out;
  for (const std::string& line : lines) {
    std::optional<AuditEntry> e = ParseAuditLine(line);
    if (!e) {
      e.emplace();
      e->op = "(malformed line)";
    }
    out.push_back(std::move(*e));
  }
  return out;
}

uint64_t AuditLog::count() const {
  std::lock_guard<std::mutex> guard(mu_);
  return head_.end.seq;
}

uint64_t AuditLog::files() const {
  std::lock_guard<std::mutex> guard(mu_);
  return head_.files.size();
}

uint64_t AuditLog::bytes() const {
  std::lock_guard<std::mutex> guard(mu_);
  return head_.end.offset + OlderFilesBytesLocked();
}

Status AuditLog::Sync() {
  std::lock_guard<std::mutex> sync_guard(sync_mu_);
  AuditHead head;
  std::vector<UniqueFd> retired;
  std::vector<uint64_t> doomed;
  bool dir_dirty;
  int fd;
  {
    std::lock_guard<std::mutex> guard(mu_);
    head = head_;
    retired.swap(retired_);
    doomed.swap(doomed_);
    dir_dirty = std::exchange(dir_dirty_, false);
    fd = fd_.get();  // stays open until the next Sync: a rotation only retires it
  }
  if (synced_seq_ == head.end.seq && retired.empty() && doomed.empty() && !dir_dirty) {
    return Status::Ok();
  }
  auto synced = [&]() -> Status {
    // The files first: a sealed head must never cover bytes a power loss can take away.
    for (const UniqueFd& old : retired) {
      COFFRE_RETURN_IF_ERROR(Files().Sync(old.get(), base_));
    }
    COFFRE_RETURN_IF_ERROR(Files().Sync(fd, PathOf(head.file())));
    if (dir_dirty) COFFRE_RETURN_IF_ERROR(SyncDirectory(DirectoryOf(base_)));
    return WriteAuditHead(store_, head);
  }();
  if (!synced.ok()) {
    std::lock_guard<std::mutex> guard(mu_);
    for (UniqueFd& old : retired) retired_.push_back(std::move(old));
    doomed_.insert(doomed_.end(), doomed.begin(), doomed.end());
    dir_dirty_ = dir_dirty_ || dir_dirty;
    return synced;
  }
  synced_seq_ = head.end.seq;
  if (!doomed.empty()) {
    // Only now that the sealed head no longer lists them.
    std::unique_lock<std::shared_mutex> files(files_mu_);
    for (uint64_t file : doomed) {
      std::error_code ec;
      std::filesystem::remove(PathOf(file), ec);
      if (ec) {
        LogLine(kLogComponent, "removing " + PathOf(file).string() + " failed: " + ec.message());
      }
    }
  }
  return Status::Ok();
}

void AuditLog::SyncLoop() {
  std::unique_lock<std::mutex> lock(stop_mu_);
  while (!stop_cv_.wait_for(lock, options_.sync_interval, [this] { return stop_; })) {
    lock.unlock();
    FlushSamples(/*all=*/false);
    Status s = Sync();
    {
      std::lock_guard<std::mutex> guard(sync_mu_);
      std::string message = s.ok() ? "" : s.message();
      if (message != last_sync_error_ && !message.empty()) {
        LogLine(kLogComponent, "sealing the audit head failed: " + message);
      }
      last_sync_error_ = message;
    }
    lock.lock();
  }
}

void AuditLog::Close() {
  {
    std::lock_guard<std::mutex> guard(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (syncer_.joinable()) syncer_.join();
  {
    std::lock_guard<std::mutex> guard(mu_);
    if (closed_) return;
  }
  FlushSamples(/*all=*/true);
  {
    std::lock_guard<std::mutex> guard(mu_);
    closed_ = true;
  }
  if (Status s = Sync(); !s.ok()) {
    LogLine(kLogComponent, "sealing the audit head failed: " + s.message());
  }
}

}  // namespace coffre::vault
