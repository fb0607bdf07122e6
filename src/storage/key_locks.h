#pragma once
// KeyLocks: mutual exclusion by key name within one process, for a KvStore only one process
// opens (RocksDB). Keys hash onto a fixed set of mutexes; a set of keys locks its mutexes in
// index order, so two callers naming the same keys in any order never deadlock.

#include <array>
#include <mutex>
#include <string>
#include <vector>

namespace coffre::storage {

class KeyLocks {
 public:
  class Held {
   public:
    Held(Held&&) = default;
    ~Held();

   private:
    friend class KeyLocks;
    Held() = default;
    std::vector<std::mutex*> held_;  // in locking order
  };

  Held Lock(const std::vector<std::string>& keys);

 private:
  std::array<std::mutex, 64> stripes_;
};

}  // namespace coffre::storage
