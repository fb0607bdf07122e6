#pragma once
// CurrentKeyProvider: the provider a hub uses now, which can be replaced while it runs (a
// customer-managed key turned on, or changed). Calls in flight finish on the old one.
// Thread-safe.

#include <memory>
#include <mutex>

#include "crypto/key_provider.h"

namespace coffre::keys {

class CurrentKeyProvider : public crypto::KeyProvider {
 public:
  explicit CurrentKeyProvider(std::shared_ptr<crypto::KeyProvider> provider)
      : provider_(std::move(provider)) {}

  void Replace(std::shared_ptr<crypto::KeyProvider> provider) {
    std::lock_guard<std::mutex> guard(mu_);
    provider_ = std::move(provider);
  }
  std::shared_ptr<crypto::KeyProvider> get() const {
    std::lock_guard<std::mutex> guard(mu_);
    return provider_;
  }

  Result<crypto::WrappedKey> Wrap(const crypto::SecretBytes& key) override { return get()->Wrap(key); }
  Result<crypto::SecretBytes> Unwrap(const crypto::WrappedKey& wrapped) override {
    return get()->Unwrap(wrapped);
  }
  Result<crypto::KeyDescription> Describe() override { return get()->Describe(); }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<crypto::KeyProvider> provider_;
};

}  // namespace coffre::keys
