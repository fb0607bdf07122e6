// AuditLog's start: the chain walked from its sealed head, a torn or foreign tail set aside
// (declared in audit_log.h).
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

}  // namespace

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

}  // namespace coffre::vault
