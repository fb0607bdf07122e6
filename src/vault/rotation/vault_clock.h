#pragma once
// VaultClock: the vault's time, seconds since the epoch: the system clock plus an offset that
// only grows. The offset is a sealed record ("vault/clock"), read at every start whatever the
// flags, so a vault's time never goes backwards across restarts. Only a vault started with
// --test-clock lets its owner advance it (POST /coffre/clock), so tests run a rotation policy in
// seconds while the policy's validation stays Azure's. Thread-safe.

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>

#include "common/result.h"
#include "vault/seal/sealed_store.h"

namespace coffre::vault {

class VaultClock {
 public:
  using SystemClock = std::function<int64_t()>;

  // store must outlive the clock.
  static Result<std::unique_ptr<VaultClock>> Open(SealedStore& store,
                                                  SystemClock system = SystemSeconds);

  static int64_t SystemSeconds();

  int64_t Now() const { return system_() + offset_.load(std::memory_order_acquire); }
  int64_t offset() const { return offset_.load(std::memory_order_acquire); }

  // Moves the clock forward by `seconds` (1 s to 100 years), stored before it takes effect.
  Status Advance(int64_t seconds);

 private:
  VaultClock(SealedStore& store, SystemClock system, int64_t offset)
      : store_(store), system_(std::move(system)), offset_(offset) {}

  SealedStore& store_;
  SystemClock system_;
  std::mutex advance_mu_;  // orders advances and their records
  std::atomic<int64_t> offset_;
};

}  // namespace coffre::vault
