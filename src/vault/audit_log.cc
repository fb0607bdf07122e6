#include "vault/audit_log.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <utility>

#include "common/encoding.h"
#include "common/files.h"
#include "common/log.h"
#include "storage/segment_files.h"

namespace coffre::vault {
namespace {

constexpr const char* kLogComponent = "audit";
constexpr size_t kBlock = 64 * 1024;
// Tail() reads at most this much, whatever lines an attacker may have put at the end.
constexpr uint64_t kMaxTailBytes = 8 << 20;

storage::SegmentFiles& Files() { return storage::PosixSegmentFiles(); }

int64_t SystemMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::filesystem::path DirectoryOf(const std::filesystem::path& file) {
  std::filesystem::path dir = file.parent_path();
  return dir.empty() ? "." : dir;
}

Result<uint64_t> FileSize(int fd, const std::filesystem::path& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return ErrnoStatus("stat " + path.string(), errno);
  return static_cast<uint64_t>(st.st_size);
}

uint64_t SizeOrZero(const std::filesystem::path& path) {
  std::error_code ec;
  uint64_t size = std::filesystem::file_size(path, ec);
  return ec ? 0 : size;
}

// Bytes [from, to) of the file.
Result<std::string> ReadRange(int fd, uint64_t from, uint64_t to,
                              const std::filesystem::path& path) {
  std::string out(to - from, '\0');
  MutableByteSpan span(reinterpret_cast<std::byte*>(out.data()), out.size());
  COFFRE_RETURN_IF_ERROR(Files().Read(fd, span, from, path));
  return out;
}

// Whether the line that ends at head.offset is entry head.seq with MAC head.mac.
bool LastCoveredLineMatches(int fd, const AuditPosition& head, const std::filesystem::path& path) {
  uint64_t from = head.offset > kBlock ? head.offset - kBlock : 0;
  Result<std::string> tail = ReadRange(fd, from, head.offset, path);
  if (!tail.has_value() || tail->empty() || tail->back() != '\n') return false;
  tail->pop_back();
  size_t nl = tail->rfind('\n');
  if (nl == std::string::npos && from > 0) return false;  // longer than any entry
  std::string_view line = std::string_view(*tail).substr(nl == std::string::npos ? 0 : nl + 1);
  std::optional<AuditLineParts> parts = SplitAuditLine(line);
  return parts && parts->seq == head.seq &&
         CRYPTO_memcmp(parts->mac.data(), head.mac.data(), head.mac.size()) == 0;
}

// Up to `n` complete lines ending at `end` of the file, oldest first, reading at most
// `budget` bytes (less what it read); `whole` says whether the file's start was reached.
Result<std::vector<std::string>> LastLines(int fd, uint64_t end, size_t n, uint64_t& budget,
                                           const std::filesystem::path& path, bool& whole) {
  std::string text;
  uint64_t start = end;
  size_t breaks = 0;
  while (start > 0 && breaks <= n && budget > 0) {
    uint64_t from = start > kBlock ? start - kBlock : 0;
    COFFRE_ASSIGN_OR_RETURN(std::string block, ReadRange(fd, from, start, path));
    breaks += static_cast<size_t>(std::count(block.begin(), block.end(), '\n'));
    budget -= std::min<uint64_t>(budget, block.size());
    text.insert(0, block);
    start = from;
  }
  whole = start == 0;
  if (!text.empty() && text.back() == '\n') text.pop_back();
  std::vector<std::string> lines;
  if (text.empty() && end == 0) return lines;
  for (std::string_view rest = text;;) {
    size_t nl = rest.find('\n');
    lines.emplace_back(rest.substr(0, nl));
    if (nl == std::string_view::npos) break;
    rest = rest.substr(nl + 1);
  }
  if (!whole && !lines.empty()) lines.erase(lines.begin());  // cut mid-line
  if (lines.size() > n) lines.erase(lines.begin(), lines.end() - static_cast<ptrdiff_t>(n));
  return lines;
}

}  // namespace

AuditLog::AuditLog(std::filesystem::path base, SealedStore& store, crypto::SecretBytes key,
                   AuditLogOptions options)
    : base_(std::move(base)), store_(store), key_(std::move(key)), options_(std::move(options)),
      sampler_(options_.sampling) {
  if (!options_.clock_ms) options_.clock_ms = SystemMillis;
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

// Files numbered after `file` are not part of the chain (the walk stopped before them): keep
// them, under .rejected, for whoever investigates, rather than overwrite them.
void AuditLog::SetAsideFilesAfter(uint64_t file) {
  for (uint64_t n = file + 1;; ++n) {
    std::filesystem::path path = PathOf(n);
    if (!std::filesystem::exists(path)) return;
    std::filesystem::path aside = path;
    aside += ".rejected";
    std::error_code ec;
    std::filesystem::rename(path, aside, ec);
    LogLine(kLogComponent, "moved " + path.string() + ", which does not continue the chain, to " +
                               aside.string() + (ec ? " (failed: " + ec.message() + ")" : ""));
    if (ec) return;
    dir_dirty_ = true;
  }
}

// Runs before any other thread sees the log: no locks needed, but AppendLocked wants mu_.
Status AuditLog::Recover() {
  std::lock_guard<std::mutex> guard(mu_);
  Result<AuditHead> sealed = ReadAuditHead(store_);
  if (!sealed.has_value() && sealed.error().code() != StatusCode::kNotFound) {
    return sealed.error();
  }
  head_ = sealed.has_value() ? *sealed : AuditHead{};
  // Files retention dropped, which the last sync sealed a head without but did not remove.
  for (uint64_t n = head_.files.front().file; n > 1; --n) {
    std::error_code ec;
    if (!std::filesystem::remove(PathOf(n - 1), ec)) break;
    dir_dirty_ = true;
  }
  COFFRE_RETURN_IF_ERROR(OpenCurrent(false));
  std::filesystem::path path = PathOf(head_.file());
  COFFRE_ASSIGN_OR_RETURN(uint64_t size, FileSize(fd_.get(), path));
  const AuditPosition& at = head_.end;
  std::string detail;
  if (sealed.has_value() && size < at.offset) {
    damage_at_open_ = "AuditLogTruncated";
    detail = path.filename().string() + " has " + std::to_string(size) +
             " bytes, but the sealed head covers " + std::to_string(at.offset) + " bytes of it (" +
             std::to_string(at.seq) + " entries in all)";
  } else if (sealed.has_value() && at.offset > 0 && !LastCoveredLineMatches(fd_.get(), at, path)) {
    damage_at_open_ = "AuditHeadMismatch";
    detail = "entry " + std::to_string(at.seq) +
             ", the last one the sealed head covers, is not where the head says";
  } else if (!sealed.has_value() && size > 0) {
    damage_at_open_ = "AuditHeadMissing";
    detail = "the sealed head is missing, but the log has " + std::to_string(size) + " bytes";
  }

  if (damage_at_open_.empty()) {
    // A tail past the head was written but not yet covered when the vault last stopped, maybe
    // across files: keep what verifies, move the rest (a torn write) aside.
    AuditWalk walk = WalkAuditChain(fd_.get(), key_, at, size);
    uint64_t from_seq = at.seq;
    while (!walk.failure && !walk.incomplete_tail && walk.end.offset == size &&
           std::filesystem::exists(PathOf(head_.file() + 1))) {
      head_.files.push_back(AuditFileStart{head_.file() + 1, walk.end.seq, walk.end.mac});
      COFFRE_RETURN_IF_ERROR(OpenCurrent(false));
      path = PathOf(head_.file());
      COFFRE_ASSIGN_OR_RETURN(size, FileSize(fd_.get(), path));
      walk = WalkAuditChain(fd_.get(), key_, AuditPosition{walk.end.seq, walk.end.mac, 0}, size);
    }
    if (walk.end.seq > from_seq) {
      LogLine(kLogComponent, "adopted entries " + std::to_string(from_seq + 1) + " to " +
                                 std::to_string(walk.end.seq) + ", written after the last sync");
    }
    if (walk.end.offset < size) COFFRE_RETURN_IF_ERROR(RejectFrom(walk.end.offset, size));
    SetAsideFilesAfter(head_.file());
    head_.end = walk.end;
    ApplyRetentionLocked();
    return Status::Ok();
  }
  // Damage the sealed head proves. Nothing is rewritten: the evidence stays for Verify, and the
  // chain goes on from the last entry known good (the sealed head, or without one the end of
  // what verifies from the first entry).
  SetAsideFilesAfter(head_.file());
  AuditPosition from = at;
  if (!sealed.has_value()) from = WalkAuditChain(fd_.get(), key_, AuditPosition{}, size).end;
  head_.end = AuditPosition{from.seq, from.mac, size};
  if (size > 0) {
    COFFRE_ASSIGN_OR_RETURN(std::string last, ReadRange(fd_.get(), size - 1, size, path));
    if (last != "\n") {  // keep the next entry on a line of its own
      COFFRE_RETURN_IF_ERROR(Files().Write(fd_.get(), AsBytes("\n"), size, path));
      head_.end.offset += 1;
    }
  }
  LogLine(kLogComponent, "AUDIT LOG DAMAGED (" + damage_at_open_ + "): " + detail + " in " +
                             path.string() + "; `coffre vault audit verify` shows the first "
                             "bad entry. Logging continues after entry " +
                             std::to_string(head_.end.seq) + ".");
  AuditEntry entry;
  entry.principal = kVaultPrincipal;
  entry.op = "auditDamaged";
  entry.status = 500;
  entry.code = damage_at_open_;
  return AppendLocked(AuditFields(entry));
}

Status AuditLog::RejectFrom(uint64_t offset, uint64_t size) {
  std::filesystem::path path = PathOf(head_.file());
  std::filesystem::path rejected = path;
  rejected += ".rejected";
  UniqueFd out(::open(rejected.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!out) return ErrnoStatus("open " + rejected.string(), errno);
  for (uint64_t at = offset; at < size; at += kBlock) {
    COFFRE_ASSIGN_OR_RETURN(std::string block,
                            ReadRange(fd_.get(), at, std::min<uint64_t>(size, at + kBlock), path));
    if (::write(out.get(), block.data(), block.size()) != static_cast<ssize_t>(block.size())) {
      return ErrnoStatus("write " + rejected.string(), errno);
    }
  }
  COFFRE_RETURN_IF_ERROR(Files().Sync(out.get(), rejected, /*metadata=*/true));
  COFFRE_RETURN_IF_ERROR(SyncDirectory(DirectoryOf(rejected)));
  if (::ftruncate(fd_.get(), static_cast<off_t>(offset)) != 0) {
    return ErrnoStatus("truncate " + path.string(), errno);
  }
  COFFRE_RETURN_IF_ERROR(Files().Sync(fd_.get(), path, /*metadata=*/true));
  LogLine(kLogComponent, "moved " + std::to_string(size - offset) + " bytes that do not verify " +
                             "(a write torn by a crash, or added by someone else) from the end " +
                             "of " + path.string() + " to " + rejected.string());
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

void AuditLog::ApplyRetentionLocked() {
  // The current file counts at its full size: the bound holds until the next rotation too.
  auto kept_bytes = [&] {
    uint64_t total = std::max(head_.end.offset, options_.max_file_bytes);
    for (size_t i = 0; i + 1 < head_.files.size(); ++i) total += SizeOrZero(PathOf(head_.files[i].file));
    return total;
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
  std::string body = AuditBody(seq, options_.clock_ms(), fields);
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
  if (sampler_.Admit(entry.client, options_.clock_ms())) Append(entry);
}

void AuditLog::FlushSamples(bool all) {
  for (const AuditSampler::Summary& s : sampler_.Drain(options_.clock_ms(), all)) {
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
