#include "storage/disk_reserve.h"

#include <sys/statvfs.h>

#include <cerrno>

#include "common/log.h"

namespace coffre::storage {
namespace {

std::string MiB(uint64_t bytes) {
  return bytes >= (uint64_t{1} << 20) ? std::to_string(bytes >> 20) + " MiB"
                                      : std::to_string(bytes >> 10) + " KiB";
}

}  // namespace

Status DiskReserve::Refresh() {
  struct statvfs st {};
  if (::statvfs(dir_.c_str(), &st) != 0) {
    return Unavailable("cannot read the free space of " + dir_.string() + ": " +
                       std::to_string(errno));
  }
  free_ = static_cast<uint64_t>(st.f_bavail) * static_cast<uint64_t>(st.f_frsize);
  return Status::Ok();
}

Status DiskReserve::Check(uint64_t bytes) {
  if (reserve_ == 0) return Status::Ok();
  std::lock_guard<std::mutex> guard(mu_);
  // Every time (a statvfs is about a microsecond): another process can fill the disk at any
  // moment, and one write that meets a full disk is one too many for RocksDB.
  COFFRE_RETURN_IF_ERROR(Refresh());
  bool fits = free_ >= reserve_ && free_ - reserve_ >= bytes;
  if (fits != !full_) {
    full_ = !fits;
    LogLine(fits ? LogLevel::kInfo : LogLevel::kWarning, "storage", fits ? "the disk holding " + dir_.string() + " has room again (" +
                                  MiB(free_) + " free): writes resume"
                            : "the disk holding " + dir_.string() + " is full (" + MiB(free_) +
                                  " free, " + MiB(reserve_) + " kept in reserve): writes are "
                                  "refused until space is freed");
  }
  if (!fits) {
    return ResourceExhausted("the disk is full: " + MiB(free_) + " free, " + MiB(reserve_) +
                             " kept in reserve");
  }
  return Status::Ok();
}

uint64_t DiskReserve::free_bytes() const {
  std::lock_guard<std::mutex> guard(mu_);
  return free_;
}

bool DiskReserve::full() const {
  std::lock_guard<std::mutex> guard(mu_);
  return full_;
}

}  // namespace coffre::storage
