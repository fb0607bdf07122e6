#pragma once
// DiskReserve: keeps free space in reserve on the filesystem that holds a directory, and refuses
// writes that would eat into it, with RESOURCE_EXHAUSTED and a message saying so. Writers ask
// before they write; once space returns the next ask succeeds. Storage engines are never driven
// into a full disk (RocksDB 7.8 as Debian builds it aborts the process on a write after a failed
// WAL write), and a full disk is a clear refusal the hub passes on, never a crash or a half-write.
// The filesystem is asked (statvfs) at every check: another process may fill it at any moment.
// Thread-safe.

#include <cstdint>
#include <filesystem>
#include <mutex>

#include "common/result.h"

namespace coffre::storage {

class DiskReserve {
 public:
  // reserve_bytes = 0: no reserve (every write is let through, the filesystem has the last word).
  DiskReserve(std::filesystem::path dir, uint64_t reserve_bytes)
      : dir_(std::move(dir)), reserve_(reserve_bytes) {}

  // OK if `bytes` more can be written and the reserve still be free.
  Status Check(uint64_t bytes);
  // The free space at the last look, and whether the last Check refused.
  uint64_t free_bytes() const;
  bool full() const;
  uint64_t reserve_bytes() const { return reserve_; }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  Status Refresh();  // requires mu_

  const std::filesystem::path dir_;
  const uint64_t reserve_;
  mutable std::mutex mu_;
  uint64_t free_ = 0;   // guarded by mu_: at the last look
  bool full_ = false;   // guarded by mu_
};

}  // namespace coffre::storage
