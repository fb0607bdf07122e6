#include "vault/audit_log.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/encoding.h"
#include "common/files.h"
#include "common/log.h"
#include "storage/segment_files.h"

namespace coffre::vault {
namespace {

constexpr const char* kHeadRecord = "audit/head";
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

}  // namespace

Result<AuditPosition> ReadAuditHead(SealedStore& store) {
  COFFRE_ASSIGN_OR_RETURN(nlohmann::json j, store.GetJson(kHeadRecord));
  AuditPosition head;
  Result<Bytes> mac = HexDecode(j.value("mac", ""));
  if (!j.is_object() || !j["seq"].is_number_unsigned() || !j["offset"].is_number_unsigned() ||
      !mac.has_value() || mac->size() != head.mac.size()) {
    return DataLoss("the sealed audit head is malformed");
  }
  head.seq = j["seq"].get<uint64_t>();
  head.offset = j["offset"].get<uint64_t>();
  std::memcpy(head.mac.data(), mac->data(), head.mac.size());
  return head;
}

AuditLog::AuditLog(std::filesystem::path path, SealedStore& store, crypto::SecretBytes key,
                   UniqueFd fd, AuditLogOptions options)
    : path_(std::move(path)), store_(store), key_(std::move(key)), fd_(std::move(fd)),
      options_(std::move(options)) {
  if (!options_.clock_ms) options_.clock_ms = SystemMillis;
}

Result<std::unique_ptr<AuditLog>> AuditLog::Open(const std::filesystem::path& path,
                                                 SealedStore& store, AuditLogOptions options) {
  COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes key, store.DeriveKey(kAuditKeyLabel));
  bool existed = std::filesystem::exists(path);
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return ErrnoStatus("open " + path.string(), errno);
  if (!existed) COFFRE_RETURN_IF_ERROR(SyncDirectory(DirectoryOf(path)));
  std::unique_ptr<AuditLog> log(
      new AuditLog(path, store, std::move(key), std::move(fd), std::move(options)));
  COFFRE_RETURN_IF_ERROR(log->Recover());
  COFFRE_RETURN_IF_ERROR(log->Sync());
  log->syncer_ = std::thread([raw = log.get()] { raw->SyncLoop(); });
  return log;
}

// Runs before any other thread sees the log: no locks needed, but AppendLocked wants mu_.
Status AuditLog::Recover() {
  int fd = fd_.get();
  COFFRE_ASSIGN_OR_RETURN(uint64_t size, FileSize(fd, path_));
  Result<AuditPosition> sealed = ReadAuditHead(store_);
  if (!sealed.has_value() && sealed.error().code() != StatusCode::kNotFound) {
    return sealed.error();
  }
  std::string detail;
  if (sealed.has_value() && size < sealed->offset) {
    damage_at_open_ = "AuditLogTruncated";
    detail = "the log has " + std::to_string(size) + " bytes, but the sealed head covers " +
             std::to_string(sealed->offset) + " bytes (" + std::to_string(sealed->seq) +
             " entries)";
  } else if (sealed.has_value() && sealed->seq > 0 &&
             !LastCoveredLineMatches(fd, *sealed, path_)) {
    damage_at_open_ = "AuditHeadMismatch";
    detail = "entry " + std::to_string(sealed->seq) +
             ", the last one the sealed head covers, is not where the head says";
  } else if (!sealed.has_value() && size > 0) {
    damage_at_open_ = "AuditHeadMissing";
    detail = "the sealed head is missing, but the log has " + std::to_string(size) + " bytes";
  }

  std::lock_guard<std::mutex> guard(mu_);
  AuditPosition from = sealed.has_value() ? *sealed : AuditPosition{};
  if (damage_at_open_.empty()) {
    // A tail past the head was written but not yet covered when the vault last stopped: keep
    // what verifies, move the rest (a torn write) aside.
    AuditWalk walk = WalkAuditChain(fd, key_, from, size);
    if (walk.end.seq > from.seq) {
      LogLine(kLogComponent, "adopted entries " + std::to_string(from.seq + 1) + " to " +
                                 std::to_string(walk.end.seq) + ", written after the last sync");
    }
    if (walk.end.offset < size) COFFRE_RETURN_IF_ERROR(RejectFrom(walk.end.offset, size));
    head_ = walk.end;
    return Status::Ok();
  }
  // Damage the sealed head proves. Nothing is rewritten: the evidence stays for Verify, and the
  // chain goes on from the last entry known good (the sealed head, or without one the end of
  // what verifies from the first entry).
  if (!sealed.has_value()) from = WalkAuditChain(fd, key_, AuditPosition{}, size).end;
  head_ = AuditPosition{from.seq, from.mac, size};
  if (size > 0) {
    COFFRE_ASSIGN_OR_RETURN(std::string last, ReadRange(fd, size - 1, size, path_));
    if (last != "\n") {  // keep the next entry on a line of its own
      COFFRE_RETURN_IF_ERROR(Files().Write(fd, AsBytes("\n"), size, path_));
      head_.offset += 1;
    }
  }
  LogLine(kLogComponent, "AUDIT LOG DAMAGED (" + damage_at_open_ + "): " + detail + " in " +
                             path_.string() + "; `coffre vault audit verify` shows the first "
                             "bad entry. Logging continues after entry " +
                             std::to_string(head_.seq) + ".");
  AuditEntry entry;
  entry.principal = kVaultPrincipal;
  entry.op = "auditDamaged";
  entry.status = 500;
  entry.code = damage_at_open_;
  return AppendLocked(AuditFields(entry));
}

Status AuditLog::RejectFrom(uint64_t offset, uint64_t size) {
  std::filesystem::path rejected = path_;
  rejected += ".rejected";
  UniqueFd out(::open(rejected.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!out) return ErrnoStatus("open " + rejected.string(), errno);
  for (uint64_t at = offset; at < size; at += kBlock) {
    COFFRE_ASSIGN_OR_RETURN(std::string block,
                            ReadRange(fd_.get(), at, std::min<uint64_t>(size, at + kBlock), path_));
    if (::write(out.get(), block.data(), block.size()) != static_cast<ssize_t>(block.size())) {
      return ErrnoStatus("write " + rejected.string(), errno);
    }
  }
  COFFRE_RETURN_IF_ERROR(Files().Sync(out.get(), rejected, /*metadata=*/true));
  COFFRE_RETURN_IF_ERROR(SyncDirectory(DirectoryOf(rejected)));
  if (::ftruncate(fd_.get(), static_cast<off_t>(offset)) != 0) {
    return ErrnoStatus("truncate " + path_.string(), errno);
  }
  COFFRE_RETURN_IF_ERROR(Files().Sync(fd_.get(), path_, /*metadata=*/true));
  LogLine(kLogComponent, "moved " + std::to_string(size - offset) + " bytes that do not verify " +
                             "(a write torn by a crash, or added by someone else) from the end " +
                             "of " + path_.string() + " to " + rejected.string());
  return Status::Ok();
}

AuditLog::~AuditLog() { Close(); }

Status AuditLog::AppendLocked(std::string_view fields) {
  uint64_t seq = head_.seq + 1;
  std::string body = AuditBody(seq, options_.clock_ms(), fields);
  COFFRE_ASSIGN_OR_RETURN(AuditMac mac, ChainMac(key_, head_.mac, body));
  std::string line = AuditLine(body, mac) + "\n";
  // At our own offset: if anything else wrote to the file, Verify says so.
  Status written = Files().Write(fd_.get(), AsBytes(line), head_.offset, path_);
  if (!written.ok()) {
    // Best effort: no torn line for the next entry to follow.
    if (::ftruncate(fd_.get(), static_cast<off_t>(head_.offset)) != 0) {
      return written.WithContext("the audit log may end in a torn line");
    }
    return written;
  }
  head_ = AuditPosition{seq, mac, head_.offset + line.size()};
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

AuditVerdict AuditLog::Verify() const {
  AuditPosition head;
  {
    std::lock_guard<std::mutex> guard(mu_);
    head = head_;
  }
  return VerifyAuditLog(fd_.get(), key_, head, head.offset);
}

Result<std::vector<AuditEntry>> AuditLog::Tail(size_t n) const {
  uint64_t end;
  {
    std::lock_guard<std::mutex> guard(mu_);
    end = head_.offset;
  }
  // Read back from the end until n + 1 line breaks (or the start) are in hand.
  std::string text;
  uint64_t start = end;
  size_t breaks = 0;
  while (start > 0 && breaks <= n && end - start < kMaxTailBytes) {
    uint64_t from = start > kBlock ? start - kBlock : 0;
    COFFRE_ASSIGN_OR_RETURN(std::string block, ReadRange(fd_.get(), from, start, path_));
    breaks += static_cast<size_t>(std::count(block.begin(), block.end(), '\n'));
    text.insert(0, block);
    start = from;
  }
  std::vector<std::string_view> lines;
  for (std::string_view rest = text; !rest.empty();) {
    size_t nl = rest.find('\n');
    lines.push_back(rest.substr(0, nl));
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  }
  if (start > 0 && !lines.empty()) lines.erase(lines.begin());  // cut mid-line
  if (lines.size() > n) lines.erase(lines.begin(), lines.end() - static_cast<ptrdiff_t>(n));
  std::vector<AuditEntry> out;
  for (std::string_view line : lines) {
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
  return head_.seq;
}

Status AuditLog::Sync() {
  std::lock_guard<std::mutex> sync_guard(sync_mu_);
  AuditPosition head;
  {
    std::lock_guard<std::mutex> guard(mu_);
    head = head_;
  }
  if (synced_seq_ == head.seq) return Status::Ok();
  // The file first: a sealed head must never cover bytes a power loss can take away.
  COFFRE_RETURN_IF_ERROR(Files().Sync(fd_.get(), path_));
  COFFRE_RETURN_IF_ERROR(store_.PutJson(
      kHeadRecord, {{"seq", head.seq}, {"mac", HexEncode(head.mac)}, {"offset", head.offset}}));
  synced_seq_ = head.seq;
  return Status::Ok();
}

void AuditLog::SyncLoop() {
  std::unique_lock<std::mutex> lock(stop_mu_);
  while (!stop_cv_.wait_for(lock, options_.sync_interval, [this] { return stop_; })) {
    lock.unlock();
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
    closed_ = true;
  }
  if (Status s = Sync(); !s.ok()) {
    LogLine(kLogComponent, "sealing the audit head failed: " + s.message());
  }
}

}  // namespace coffre::vault
