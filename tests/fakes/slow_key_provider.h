#pragma once
// SlowKeyProvider: another provider's answers, each wrap and unwrap held for `delay`: a vault
// whose round trips are slow. entered() says a call has begun. Release() ends the hold of the
// calls under way and lets every later call through at once: a test that has shown its point
// while the vault was held (a key user did not wait for it) releases it instead of waiting the
// delay out, and a call that wrongly waited for the vault still took the whole delay.
// Thread-safe.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "crypto/key_provider.h"

namespace coffre::testing {

class SlowKeyProvider : public crypto::KeyProvider {
 public:
  // inner must outlive this.
  SlowKeyProvider(crypto::KeyProvider& inner, std::chrono::milliseconds delay)
      : inner_(inner), delay_(delay) {}
  Result<crypto::WrappedKey> Wrap(const crypto::SecretBytes& key) override {
    Stall();
    return inner_.Wrap(key);
  }
  Result<crypto::SecretBytes> Unwrap(const crypto::WrappedKey& wrapped) override {
    Stall();
    return inner_.Unwrap(wrapped);
  }
  Result<crypto::KeyDescription> Describe() override { return inner_.Describe(); }
  bool entered() const { return entered_.load(); }
  void Release() {
    {
      std::lock_guard lock(mu_);
      released_ = true;
    }
    released_cv_.notify_all();
  }

 private:
  void Stall() {
    entered_ = true;
    std::unique_lock lock(mu_);
    released_cv_.wait_for(lock, delay_, [this] { return released_; });
  }
  crypto::KeyProvider& inner_;
  std::chrono::milliseconds delay_;
  std::atomic<bool> entered_{false};
  std::mutex mu_;
  std::condition_variable released_cv_;
  bool released_ = false;
};

}  // namespace coffre::testing
