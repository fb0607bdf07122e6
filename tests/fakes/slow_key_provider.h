#pragma once
// SlowKeyProvider: another provider's answers, each wrap and unwrap taking `delay`: a vault
// whose round trips are slow. entered() says a call has begun. Thread-safe.

#include <atomic>
#include <chrono>
#include <thread>

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

 private:
  void Stall() {
    entered_ = true;
    std::this_thread::sleep_for(delay_);
  }
  crypto::KeyProvider& inner_;
  std::chrono::milliseconds delay_;
  std::atomic<bool> entered_{false};
};

}  // namespace coffre::testing
