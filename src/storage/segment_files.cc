#include "storage/segment_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "common/files.h"

namespace coffre::storage {
namespace {

class Posix final : public SegmentFiles {
 public:
  Result<UniqueFd> OpenExisting(const std::filesystem::path& path) override {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (!fd) return ErrnoStatus("open " + path.string(), errno);
    return fd;
  }

  Result<UniqueFd> Create(const std::filesystem::path& path, uint64_t size) override {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd) return ErrnoStatus("create " + path.string(), errno);
    int rc = ::posix_fallocate(fd.get(), 0, static_cast<off_t>(size));
    if (rc != 0) {
      // Not left behind: a retry (once there is space) creates it again under the same name.
      ::unlink(path.c_str());
      return ErrnoStatus("preallocate " + path.string(), rc);
    }
    return fd;
  }

  Status Write(int fd, ByteSpan data, uint64_t offset, const std::filesystem::path& path) override {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done,
                           static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("write " + path.string(), errno);
      }
      done += static_cast<size_t>(n);
    }
    return Status::Ok();
  }

  Status Read(int fd, MutableByteSpan out, uint64_t offset,
              const std::filesystem::path& path) override {
    size_t done = 0;
    while (done < out.size()) {
      ssize_t n = ::pread(fd, out.data() + done, out.size() - done,
                          static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("read " + path.string(), errno);
      }
      if (n == 0) return DataLoss("unexpected end of " + path.string());
      done += static_cast<size_t>(n);
    }
    return Status::Ok();
  }

  Status Sync(int fd, const std::filesystem::path& path, bool metadata) override {
    int rc = metadata ? ::fsync(fd) : ::fdatasync(fd);
    if (rc != 0) return ErrnoStatus((metadata ? "fsync " : "fdatasync ") + path.string(), errno);
    return Status::Ok();
  }

  Status Remove(const std::filesystem::path& path) override {
    if (::unlink(path.c_str()) != 0) return ErrnoStatus("delete " + path.string(), errno);
    return Status::Ok();
  }

  Status SyncDirectory(const std::filesystem::path& dir) override {
    return coffre::SyncDirectory(dir);
  }
};

}  // namespace

SegmentFiles& PosixSegmentFiles() {
  static Posix files;
  return files;
}

}  // namespace coffre::storage
