#include "crypto/file_data_key_store.h"

#include <cerrno>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <string>

#include "common/files.h"
#include "common/unique_fd.h"

namespace coffre::crypto {

Result<std::unique_ptr<FileDataKeyStore>> FileDataKeyStore::Open(const std::filesystem::path& dir) {
  COFFRE_RETURN_IF_ERROR(EnsurePrivateDirectory(dir));
  return std::unique_ptr<FileDataKeyStore>(new FileDataKeyStore(dir));
}

Result<uint64_t> FileDataKeyStore::ReserveEpoch(uint32_t scope) {
  std::lock_guard<std::mutex> guard(mu_);
  std::filesystem::path lock_path = dir_ / "lock";
  UniqueFd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock) return ErrnoStatus("open " + lock_path.string(), errno);
  if (::flock(lock.get(), LOCK_EX) != 0) return ErrnoStatus("flock " + lock_path.string(), errno);

  std::filesystem::path path = dir_ / ("epoch-" + std::to_string(scope));
  uint64_t last = 0;
  Result<Bytes> old = ReadFile(path);
  if (old.has_value()) {
    if (old->size() != 8) return DataLoss("epoch file " + path.string() + " is not 8 bytes");
    last = GetU64(old->data());
  } else if (old.error().code() != StatusCode::kNotFound) {
    return old.error();
  }
  if (last == UINT64_MAX) return ResourceExhausted("epochs of scope exhausted");
  std::byte next[8];
  PutU64(next, last + 1);
  COFFRE_RETURN_IF_ERROR(WriteFileDurably(path, next));
  return last + 1;  // the flock is released when `lock` closes
}

Status FileDataKeyStore::PutWrapped(DataKeyId id, ByteSpan wrapped) {
  std::string name = "dek-" + std::to_string(id.scope) + "-" + std::to_string(id.epoch);
  std::filesystem::path path = dir_ / name;
  std::filesystem::path tmp = dir_ / (name + ".tmp." + std::to_string(::getpid()));
  {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd) return ErrnoStatus("create " + tmp.string(), errno);
    if (::write(fd.get(), wrapped.data(), wrapped.size()) != static_cast<ssize_t>(wrapped.size())) {
      return ErrnoStatus("write " + tmp.string(), errno);
    }
    if (::fsync(fd.get()) != 0) return ErrnoStatus("fsync " + tmp.string(), errno);
  }
  // link() fails with EEXIST instead of replacing, unlike rename().
  int rc = ::link(tmp.c_str(), path.c_str());
  int err = errno;
  ::unlink(tmp.c_str());
  if (rc != 0) {
    if (err == EEXIST) return AlreadyExists("data key " + name + " is already stored");
    return ErrnoStatus("link " + path.string(), err);
  }
  return SyncDirectory(dir_);
}

Result<Bytes> FileDataKeyStore::GetWrapped(DataKeyId id) {
  return ReadFile(dir_ / ("dek-" + std::to_string(id.scope) + "-" + std::to_string(id.epoch)));
}

Status FileDataKeyStore::DeleteWrapped(DataKeyId id) {
  std::filesystem::path path =
      dir_ / ("dek-" + std::to_string(id.scope) + "-" + std::to_string(id.epoch));
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus("unlink " + path.string(), errno);
  }
  return SyncDirectory(dir_);
}

}  // namespace coffre::crypto
