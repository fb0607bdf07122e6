#pragma once
// FakeKeyProvider: an in-memory KeyProvider whose answers a test sets: the key's state, a
// revoked identity, or an outage. It really wraps (AES-256-GCM under a random key-encryption
// key), so a wrong wrapped key really fails to unwrap. Thread-safe.

#include <mutex>

#include "crypto/aes_gcm.h"
#include "crypto/key_provider.h"
#include "crypto/random.h"

namespace coffre::testing {

class FakeKeyProvider : public crypto::KeyProvider {
 public:
  enum class Mode { kNormal, kDenied, kUnreachable };

  FakeKeyProvider() {
    auto key = crypto::SecretBytes::Random(32);
    aead_ = std::move(crypto::AesGcm::Create(*key).value());
  }

  void set_state(crypto::KeyState s) { std::lock_guard g(mu_); state_ = s; }
  void set_mode(Mode m) { std::lock_guard g(mu_); mode_ = m; }
  void set_purge_protected(bool p) { std::lock_guard g(mu_); purge_protected_ = p; }
  // Only wrapKey denied (the permission removed), as a vault can.
  void set_wrap_denied(bool d) { std::lock_guard g(mu_); wrap_denied_ = d; }
  int calls() const { std::lock_guard g(mu_); return calls_; }

  Result<crypto::WrappedKey> Wrap(const crypto::SecretBytes& key) override {
    std::lock_guard g(mu_);
    COFFRE_RETURN_IF_ERROR(Check(/*protects=*/true));
    if (wrap_denied_) return PermissionDenied("fake vault denies wrapKey");
    crypto::GcmNonce nonce;
    COFFRE_RETURN_IF_ERROR(crypto::RandomBytes(nonce));
    COFFRE_ASSIGN_OR_RETURN(Bytes sealed, aead_->Seal(nonce, {}, key.Reveal()));
    Bytes out(nonce.begin(), nonce.end());
    out.insert(out.end(), sealed.begin(), sealed.end());
    return crypto::WrappedKey{kId, "FAKE-GCM", std::move(out)};
  }

  Result<crypto::SecretBytes> Unwrap(const crypto::WrappedKey& wrapped) override {
    std::lock_guard g(mu_);
    COFFRE_RETURN_IF_ERROR(Check(/*protects=*/false));
    if (wrapped.key_id != kId || wrapped.ciphertext.size() < 12 + 16) return crypto::OpenFailed();
    crypto::GcmNonce nonce;
    std::copy_n(wrapped.ciphertext.begin(), 12, nonce.begin());
    COFFRE_ASSIGN_OR_RETURN(auto key, crypto::SecretBytes::Allocate(wrapped.ciphertext.size() - 28));
    COFFRE_RETURN_IF_ERROR(aead_->Open(nonce, {}, ByteSpan(wrapped.ciphertext).subspan(12),
                                       key.RevealMutable()));
    return key;
  }

  Result<crypto::KeyDescription> Describe() override {
    std::lock_guard g(mu_);
    if (mode_ == Mode::kUnreachable) return Unavailable("fake vault is unreachable");
    if (mode_ == Mode::kDenied) return PermissionDenied("fake vault denies access");
    return crypto::KeyDescription{"fake", "1", kId, state_, purge_protected_};
  }

  static constexpr const char* kId = "fake://keys/fake/1";

 private:
  // As Key Vault: an expired or not yet valid key still unwraps, but no longer wraps.
  Status Check(bool protects) {
    ++calls_;
    if (mode_ == Mode::kUnreachable) return Unavailable("fake vault is unreachable");
    if (mode_ == Mode::kDenied) return PermissionDenied("fake vault denies access");
    if (state_ == crypto::KeyState::kDeleted) return NotFound("fake key is deleted");
    if (state_ == crypto::KeyState::kDisabled) return FailedPrecondition("fake key is disabled");
    if (state_ != crypto::KeyState::kEnabled && protects) {
      return FailedPrecondition("fake key is expired or not yet valid");
    }
    return Status::Ok();
  }

  mutable std::mutex mu_;
  std::unique_ptr<crypto::AesGcm> aead_;
  crypto::KeyState state_ = crypto::KeyState::kEnabled;
  Mode mode_ = Mode::kNormal;
  bool purge_protected_ = true;
  bool wrap_denied_ = false;
  int calls_ = 0;
};

}  // namespace coffre::testing
