#include "common/files.h"

#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/unique_fd.h"

namespace coffre {

Result<Bytes> ReadFile(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus("open " + path.string(), errno);
  Bytes out;
  std::byte buf[16384];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("read " + path.string(), errno);
    }
    if (n == 0) break;
    out.insert(out.end(), buf, buf + n);
  }
  return out;
}

Result<std::string> ReadTextFile(const std::filesystem::path& path) {
  COFFRE_ASSIGN_OR_RETURN(Bytes b, ReadFile(path));
  return std::string(AsChars(b));
}

Status SyncDirectory(const std::filesystem::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return ErrnoStatus("open directory " + dir.string(), errno);
  if (::fsync(fd.get()) != 0) return ErrnoStatus("fsync directory " + dir.string(), errno);
  return Status::Ok();
}

Status WriteAll(int fd, ByteSpan data, std::string_view what) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("write " + std::string(what), errno);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status WriteFileDurably(const std::filesystem::path& path, ByteSpan content, mode_t mode) {
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
    if (!fd) return ErrnoStatus("create " + tmp.string(), errno);
    if (::fchmod(fd.get(), mode) != 0) return ErrnoStatus("chmod " + tmp.string(), errno);
    COFFRE_RETURN_IF_ERROR(WriteAll(fd.get(), content, tmp.string()));
    if (::fsync(fd.get()) != 0) return ErrnoStatus("fsync " + tmp.string(), errno);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return ErrnoStatus("rename to " + path.string(), errno);
  }
  return SyncDirectory(dir);
}

Status EnsurePrivateDirectory(const std::filesystem::path& dir, mode_t mode) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Internal("create directory " + dir.string() + ": " + ec.message());
  if (::chmod(dir.c_str(), mode) != 0) return ErrnoStatus("chmod " + dir.string(), errno);
  return Status::Ok();
}

}  // namespace coffre
