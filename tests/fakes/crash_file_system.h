#pragma once
// CrashFileSystem: a RocksDB FileSystem that remembers how much of each file was synced, so a
// test can simulate power loss: Freeze() makes every later write fail (nothing more reaches the
// disk), and Crash() then truncates every file to its last synced length and deletes files
// created since their directory was last synced. Renames are treated as atomic and durable,
// which is what RocksDB relies on after syncing the directory. Thread-safe.

#include <unistd.h>

#include <cerrno>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include <rocksdb/file_system.h>

#include "common/check.h"

namespace coffre::testing {

class CrashFileSystem : public rocksdb::FileSystemWrapper {
 public:
  explicit CrashFileSystem(const std::shared_ptr<rocksdb::FileSystem>& base)
      : rocksdb::FileSystemWrapper(base) {}

  static const char* kClassName() { return "CoffreCrashFileSystem"; }
  const char* Name() const override { return kClassName(); }

  void Freeze() {
    std::lock_guard g(mu_);
    frozen_ = true;
  }

  // Freezes at the n-th sync from now (n >= 1; of a file or a directory) instead of making it:
  // what that sync would have made durable is lost, exactly. A cut at a random moment mostly
  // lands inside a long fsync, which then completes; this one finds a write that was
  // acknowledged before its sync (or never synced).
  void FreezeAtSync(uint64_t n) {
    std::lock_guard g(mu_);
    syncs_left_ = n;
  }

  bool frozen() const { return IsFrozen(); }

  // Call after the database is closed: the disk as a power loss would leave it. The file
  // system is usable again afterwards.
  void Crash() {
    std::lock_guard g(mu_);
    for (const auto& [name, f] : files_) {

      // The default FileSystem does not implement Truncate: use the system calls directly.
      int rc = f.dir_synced ? ::truncate(name.c_str(), static_cast<off_t>(f.synced))
                            : ::unlink(name.c_str());
      COFFRE_CHECK(rc == 0 || errno == ENOENT);
    }
    files_.clear();
    frozen_ = false;
    syncs_left_ = 0;
  }

  size_t unsynced_bytes() const {
    std::lock_guard g(mu_);
    size_t n = 0;
    for (const auto& [name, f] : files_) n += f.size - f.synced;
    return n;
  }

  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override {
    if (IsFrozen()) return rocksdb::IOStatus::IOError("frozen by the crash test");
    auto s = target()->NewWritableFile(fname, opts, result, dbg);
    if (s.ok()) Track(fname, 0, /*new_file=*/true, result);
    return s;
  }

  rocksdb::IOStatus ReopenWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* dbg) override {
    if (IsFrozen()) return rocksdb::IOStatus::IOError("frozen by the crash test");
    uint64_t size = 0;
    target()->GetFileSize(fname, rocksdb::IOOptions(), &size, dbg);
    auto s = target()->ReopenWritableFile(fname, opts, result, dbg);
    if (s.ok()) Track(fname, size, /*new_file=*/false, result);
    return s;
  }

  rocksdb::IOStatus ReuseWritableFile(const std::string& fname, const std::string& old_fname,
                                      const rocksdb::FileOptions& opts,
                                      std::unique_ptr<rocksdb::FSWritableFile>* result,
                                      rocksdb::IODebugContext* dbg) override {
    if (IsFrozen()) return rocksdb::IOStatus::IOError("frozen by the crash test");
    auto s = target()->ReuseWritableFile(fname, old_fname, opts, result, dbg);
    if (s.ok()) Track(fname, 0, /*new_file=*/true, result);
    return s;
  }

  rocksdb::IOStatus NewDirectory(const std::string& name, const rocksdb::IOOptions& io_opts,
                                 std::unique_ptr<rocksdb::FSDirectory>* result,
                                 rocksdb::IODebugContext* dbg) override {
    auto s = target()->NewDirectory(name, io_opts, result, dbg);
    if (s.ok()) *result = std::make_unique<Directory>(std::move(*result), this, name);
    return s;
  }

  rocksdb::IOStatus RenameFile(const std::string& src, const std::string& target_name,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override {
    if (IsFrozen()) return rocksdb::IOStatus::IOError("frozen by the crash test");
    auto s = target()->RenameFile(src, target_name, options, dbg);
    std::lock_guard g(mu_);
    auto it = files_.find(src);
    if (s.ok() && it != files_.end()) {
      FileState state = it->second;
      state.dir_synced = true;  // rename is taken as durable
      files_.erase(it);
      files_[target_name] = state;
    }
    return s;
  }

  rocksdb::IOStatus DeleteFile(const std::string& fname, const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override {
    if (IsFrozen()) return rocksdb::IOStatus::IOError("frozen by the crash test");
    std::lock_guard g(mu_);
    files_.erase(fname);
    return target()->DeleteFile(fname, options, dbg);
  }

 private:
  struct FileState {
    uint64_t size = 0;
    uint64_t synced = 0;
    bool dir_synced = false;
  };

  class File : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSWritableFile> f, CrashFileSystem* fs, std::string name)
        : rocksdb::FSWritableFileOwnerWrapper(std::move(f)), fs_(fs), name_(std::move(name)) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                             rocksdb::IODebugContext* dbg) override {
      if (fs_->IsFrozen()) return rocksdb::IOStatus::IOError("frozen by the crash test");
      auto s = target()->Append(data, o, dbg);
      if (s.ok()) fs_->Grow(name_, data.size());
      return s;
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                             const rocksdb::DataVerificationInfo& info,
                             rocksdb::IODebugContext* dbg) override {
      if (fs_->IsFrozen()) return rocksdb::IOStatus::IOError("frozen by the crash test");
      auto s = target()->Append(data, o, info, dbg);
      if (s.ok()) fs_->Grow(name_, data.size());
      return s;
    }
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
      if (fs_->FreezesAtSync()) return rocksdb::IOStatus::IOError("frozen by the crash test");
      auto s = target()->Sync(o, dbg);
      if (s.ok()) fs_->Synced(name_);
      return s;
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
      if (fs_->FreezesAtSync()) return rocksdb::IOStatus::IOError("frozen by the crash test");
      auto s = target()->Fsync(o, dbg);
      if (s.ok()) fs_->Synced(name_);
      return s;
    }
    rocksdb::IOStatus Close(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
      return target()->Close(o, dbg);  // closing does not make data durable
    }

   private:
    CrashFileSystem* fs_;
    std::string name_;
  };

  class Directory : public rocksdb::FSDirectory {
   public:
    Directory(std::unique_ptr<rocksdb::FSDirectory> d, CrashFileSystem* fs, std::string name)
        : dir_(std::move(d)), fs_(fs), name_(std::move(name)) {}
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
      if (fs_->FreezesAtSync()) return rocksdb::IOStatus::IOError("frozen by the crash test");
      auto s = dir_->Fsync(o, dbg);
      if (s.ok()) fs_->DirectorySynced(name_);
      return s;
    }
    rocksdb::IOStatus FsyncWithDirOptions(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg,
                                          const rocksdb::DirFsyncOptions&) override {
      return Fsync(o, dbg);
    }
    rocksdb::IOStatus Close(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
      return dir_->Close(o, dbg);
    }
    size_t GetUniqueId(char* id, size_t max_size) const override {
      return dir_->GetUniqueId(id, max_size);
    }

   private:
    std::unique_ptr<rocksdb::FSDirectory> dir_;
    CrashFileSystem* fs_;
    std::string name_;
  };

  bool IsFrozen() const {
    std::lock_guard g(mu_);
    return frozen_;
  }
  // A sync about to be made: false if it may go ahead.
  bool FreezesAtSync() {
    std::lock_guard g(mu_);
    if (syncs_left_ > 0 && --syncs_left_ == 0) frozen_ = true;
    return frozen_;
  }
  void Track(const std::string& name, uint64_t size, bool new_file,
             std::unique_ptr<rocksdb::FSWritableFile>* result) {
    {
      std::lock_guard g(mu_);
      files_[name] = FileState{size, size, !new_file};
    }
    *result = std::make_unique<File>(std::move(*result), this, name);
  }
  void Grow(const std::string& name, size_t n) {
    std::lock_guard g(mu_);
    files_[name].size += n;
  }
  void Synced(const std::string& name) {
    std::lock_guard g(mu_);
    files_[name].synced = files_[name].size;
  }
  void DirectorySynced(const std::string& dir) {
    std::lock_guard g(mu_);
    std::string prefix = dir.back() == '/' ? dir : dir + "/";
    for (auto& [name, f] : files_) {
      if (name.rfind(prefix, 0) == 0 && name.find('/', prefix.size()) == std::string::npos) {
        f.dir_synced = true;
      }
    }
  }

  mutable std::mutex mu_;
  bool frozen_ = false;
  uint64_t syncs_left_ = 0;  // FreezeAtSync: 0 for none
  std::map<std::string, FileState> files_;
};

// One power loss armed for a round of changes: with `at_sync`, at the 1st-40th sync from now,
// before it is made (it drops exactly what that sync would have made durable); else at a random
// moment in [earliest, latest] from now, whatever is being written then (mostly inside an
// fsync, which completes). came() says it has; the destructor waits for the moment, then adds
// what was written and not synced to `unsynced_seen`.
class PowerCut {
 public:
  PowerCut(CrashFileSystem& files, std::mt19937_64& rng, bool at_sync,
           std::chrono::microseconds earliest, std::chrono::microseconds latest,
           uint64_t& unsynced_seen)
      : files_(files), unsynced_seen_(unsynced_seen) {
    if (at_sync) {
      files_.FreezeAtSync(1 + rng() % 40);
      return;
    }
    auto span = static_cast<uint64_t>((latest - earliest).count()) + 1;
    auto delay = earliest + std::chrono::microseconds(rng() % span);
    timer_ = std::thread([this, delay] {
      std::this_thread::sleep_for(delay);
      unsynced_seen_ += files_.unsynced_bytes();
      files_.Freeze();
      came_ = true;
    });
  }
  ~PowerCut() {
    if (timer_.joinable()) {
      timer_.join();
    } else {
      unsynced_seen_ += files_.unsynced_bytes();
    }
  }
  PowerCut(const PowerCut&) = delete;
  PowerCut& operator=(const PowerCut&) = delete;

  bool came() const { return came_ || files_.frozen(); }

 private:
  CrashFileSystem& files_;
  uint64_t& unsynced_seen_;
  std::atomic<bool> came_{false};
  std::thread timer_;
};

}  // namespace coffre::testing
