#pragma once
// SegmentFiles: the file operations a SegmentLog makes, and nothing else, so a test can stand
// between the log and the disk (tests/fakes/crash_segment_files.h drops unsynced sectors the way
// a power loss does). The default is plain POSIX. Implementations are thread-safe.

#include <cstdint>
#include <filesystem>

#include "common/bytes.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace coffre::storage {

class SegmentFiles {
 public:
  virtual ~SegmentFiles() = default;
  virtual Result<UniqueFd> OpenExisting(const std::filesystem::path& path) = 0;
  // A new file (mode 0600) of `size` zero bytes, preallocated. Durable after Sync(metadata) of
  // the file and SyncDirectory of its directory.
  virtual Result<UniqueFd> Create(const std::filesystem::path& path, uint64_t size) = 0;
  virtual Status Write(int fd, ByteSpan data, uint64_t offset, const std::filesystem::path& path) = 0;
  virtual Status Read(int fd, MutableByteSpan out, uint64_t offset,
                      const std::filesystem::path& path) = 0;
  // fdatasync, or fsync when `metadata` (a new file's size).
  virtual Status Sync(int fd, const std::filesystem::path& path, bool metadata = false) = 0;
  virtual Status Remove(const std::filesystem::path& path) = 0;
  virtual Status SyncDirectory(const std::filesystem::path& dir) = 0;
};

// The real thing: pread/pwrite/fdatasync.
SegmentFiles& PosixSegmentFiles();

}  // namespace coffre::storage
