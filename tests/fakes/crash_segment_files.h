#pragma once
// CrashSegmentFiles: SegmentFiles over the real disk that models what a power loss leaves of it,
// the way a page cache writes back: every 512-byte sector written since its file's last sync is
// "dirty", and Crash() decides for each dirty sector, independently and at random, whether it
// reached the disk (its current content stays) or not (its content at the last sync comes back).
// So later writes can survive while earlier ones are lost, and a record can be torn at any
// sector boundary. A file created since its directory's last sync disappears. Freeze() is the
// moment the power goes: every later write, sync, create or remove fails; FreezeAfterWrites(n)
// makes it the moment right after the n-th write from now, a crash point with data in flight.
// Thread-safe.

#include <fcntl.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>

#include "common/check.h"
#include "storage/segment_files.h"

namespace coffre::testing {

class CrashSegmentFiles : public storage::SegmentFiles {
 public:
  static constexpr uint64_t kSector = 512;

  void Freeze() {
    std::lock_guard g(mu_);
    frozen_ = true;
  }
  void FreezeAfterWrites(uint64_t n) {
    std::lock_guard g(mu_);
    writes_until_freeze_ = n;
  }
  // The next Sync fails (EIO), the way Linux fails an fdatasync: the dirty sectors are marked
  // clean without reaching the disk, so no later sync writes them, and a crash takes them back
  // for sure, unless they are written again.
  void FailNextSync() {
    std::lock_guard g(mu_);
    fail_next_sync_ = true;
  }
  bool frozen() const {
    std::lock_guard g(mu_);
    return frozen_;
  }

  // Call once nothing uses the files: the disk as the power loss left it. Then usable again.
  // Returns how many dirty sectors were rolled back.
  size_t Crash(std::mt19937_64& rng) {
    std::lock_guard g(mu_);
    size_t lost = 0;
    for (auto& [path, file] : files_) {
      if (!file.entry_durable) {
        ::unlink(path.c_str());
        continue;
      }
      if (file.dirty.empty() && file.doomed.empty()) continue;
      UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
      COFFRE_CHECK(fd);
      for (const auto& [sector, synced] : file.doomed) file.dirty.insert_or_assign(sector, synced);
      for (const auto& [sector, synced] : file.dirty) {
        if (file.doomed.count(sector) == 0 && rng() % 2 == 0) continue;  // it made it to the disk
        COFFRE_CHECK(::pwrite(fd.get(), synced.data(), synced.size(),
                              static_cast<off_t>(sector * kSector)) ==
                     static_cast<ssize_t>(synced.size()));
        ++lost;
      }
      COFFRE_CHECK(::fsync(fd.get()) == 0);
    }
    files_.clear();
    frozen_ = false;
    writes_until_freeze_ = 0;
    return lost;
  }

  size_t dirty_sectors() const {
    std::lock_guard g(mu_);
    size_t n = 0;
    for (const auto& [path, file] : files_) n += file.dirty.size();
    return n;
  }

  Result<UniqueFd> OpenExisting(const std::filesystem::path& path) override {
    return base_.OpenExisting(path);
  }
  Result<UniqueFd> Create(const std::filesystem::path& path, uint64_t size) override {
    std::lock_guard g(mu_);
    if (frozen_) return Frozen();
    COFFRE_ASSIGN_OR_RETURN(UniqueFd fd, base_.Create(path, size));
    files_[path.string()].entry_durable = false;
    return fd;
  }
  Status Write(int fd, ByteSpan data, uint64_t offset, const std::filesystem::path& path) override {
    std::lock_guard g(mu_);
    if (frozen_) return Frozen();
    File& file = files_[path.string()];
    // The first write to a sector since the last sync: remember what the disk holds.
    for (uint64_t s = offset / kSector; s * kSector < offset + data.size(); ++s) {
      if (auto d = file.doomed.find(s); d != file.doomed.end()) {  // written again: dirty again
        file.dirty.insert_or_assign(s, std::move(d->second));
        file.doomed.erase(d);
      }
      if (file.dirty.count(s) != 0) continue;
      Bytes synced(kSector);
      ssize_t n = ::pread(fd, synced.data(), kSector, static_cast<off_t>(s * kSector));
      COFFRE_CHECK(n >= 0);
      synced.resize(static_cast<size_t>(n));  // the file's last sector may be short
      file.dirty.emplace(s, std::move(synced));
    }
    Status written = base_.Write(fd, data, offset, path);
    if (writes_until_freeze_ > 0 && --writes_until_freeze_ == 0) frozen_ = true;
    return written;
  }
  Status Read(int fd, MutableByteSpan out, uint64_t offset,
              const std::filesystem::path& path) override {
    return base_.Read(fd, out, offset, path);
  }
  Status Sync(int fd, const std::filesystem::path& path, bool metadata) override {
    std::lock_guard g(mu_);
    if (frozen_) return Frozen();
    File& file = files_[path.string()];
    if (fail_next_sync_) {
      fail_next_sync_ = false;
      file.doomed.merge(file.dirty);
      file.dirty.clear();
      return Unavailable("fdatasync " + path.string() + ": Input/output error (crash test)");
    }
    COFFRE_RETURN_IF_ERROR(base_.Sync(fd, path, metadata));
    file.dirty.clear();
    return Status::Ok();
  }
  Status Remove(const std::filesystem::path& path) override {
    std::lock_guard g(mu_);
    if (frozen_) return Frozen();
    files_.erase(path.string());
    return base_.Remove(path);
  }
  Status SyncDirectory(const std::filesystem::path& dir) override {
    std::lock_guard g(mu_);
    if (frozen_) return Frozen();
    COFFRE_RETURN_IF_ERROR(base_.SyncDirectory(dir));
    for (auto& [path, file] : files_) {
      if (std::filesystem::path(path).parent_path() == dir) file.entry_durable = true;
    }
    return Status::Ok();
  }

 private:
  struct File {
    bool entry_durable = true;          // false: created since its directory was synced
    std::map<uint64_t, Bytes> dirty;    // sector -> its content at the last sync
    std::map<uint64_t, Bytes> doomed;   // marked clean by a failed sync, never on the disk
  };
  static Status Frozen() { return Unavailable("the power is out (crash test)"); }

  storage::SegmentFiles& base_ = storage::PosixSegmentFiles();
  mutable std::mutex mu_;
  std::map<std::string, File> files_;
  bool frozen_ = false;
  bool fail_next_sync_ = false;
  uint64_t writes_until_freeze_ = 0;  // 0: not armed
};

}  // namespace coffre::testing
