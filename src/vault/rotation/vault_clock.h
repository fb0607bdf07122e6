#pragma once
// VaultClock: the vault's time: another clock (the system's) plus an offset in seconds that
// only grows; a coffre::Clock, injected wherever the vault reads the time. The offset is a sealed record ("vault/clock"), read at every start whatever the
// flags, so a vault's time never goes backwards across restarts. Only a vault started with
// --test-clock lets its owner advance it (POST /coffre/clock), so tests run a rotation policy in
// seconds while the policy's validation stays Azure's. Thread-safe.

#include <atomic>
#include <memory>
#include <mutex>

#include "common/clock.h"
#include "common/result.h"
#include "vault/seal/sealed_store.h"

namespace coffre::vault {

class VaultClock final : public Clock {
 public:
  // store and base must outlive the clock.
  static Result<std::unique_ptr<VaultClock>> Open(SealedStore& store,
                                                  const Clock& base = SystemClock());

  WallTime Now() const override {
    return base_.Now() + std::chrono::seconds(offset_.load(std::memory_order_acquire));
  }
  SteadyTime SteadyNow() const override { return base_.SteadyNow(); }  // never offset
  int64_t offset() const { return offset_.load(std::memory_order_acquire); }  // seconds

  // Moves the clock forward by `seconds` (1 s to 100 years), stored before it takes effect.
  Status Advance(int64_t seconds);

 private:
  VaultClock(SealedStore& store, const Clock& base, int64_t offset)
      : store_(store), base_(base), offset_(offset) {}

  SealedStore& store_;
  const Clock& base_;
  std::mutex advance_mu_;  // orders advances and their records
  std::atomic<int64_t> offset_;
};

}  // namespace coffre::vault
