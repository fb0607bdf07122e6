#include "crypto/secret_bytes.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cstring>
#include <utility>

#include "common/check.h"

namespace coffre::crypto {

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Wipe();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

SecretBytes::~SecretBytes() { Wipe(); }

void SecretBytes::Wipe() {
  if (data_ != nullptr) OPENSSL_secure_clear_free(data_, size_);
  data_ = nullptr;
  size_ = 0;
}

Result<SecretBytes> SecretBytes::Allocate(size_t size) {
  // Without the secure heap, OpenSSL would silently fall back to ordinary memory.
  COFFRE_CHECK(CRYPTO_secure_malloc_initialized());
  if (size == 0) return SecretBytes();
  void* p = OPENSSL_secure_zalloc(size);
  if (p == nullptr) return ResourceExhausted("the secure heap is full");
  return SecretBytes(static_cast<std::byte*>(p), size);
}

Result<SecretBytes> SecretBytes::Random(size_t size) {
  COFFRE_ASSIGN_OR_RETURN(SecretBytes s, Allocate(size));
  if (size > 0 && RAND_priv_bytes(AsUChars(s.RevealMutable()), static_cast<int>(size)) != 1) {
    return Internal("the random generator failed");
  }
  return s;
}

Result<SecretBytes> SecretBytes::CopyOf(ByteSpan bytes) {
  COFFRE_ASSIGN_OR_RETURN(SecretBytes s, Allocate(bytes.size()));
  if (!bytes.empty()) std::memcpy(s.data_, bytes.data(), bytes.size());
  return s;
}

Result<SecretBytes> SecretBytes::Clone() const { return CopyOf(Reveal()); }

bool operator==(const SecretBytes& a, const SecretBytes& b) {
  if (a.size_ != b.size_) return false;
  if (a.size_ == 0) return true;
  return CRYPTO_memcmp(a.data_, b.data_, a.size_) == 0;
}

std::ostream& operator<<(std::ostream& os, const SecretBytes& s) {
  return os << "<secret " << s.size() << "B>";
}

void Cleanse(MutableByteSpan bytes) {
  if (!bytes.empty()) OPENSSL_cleanse(bytes.data(), bytes.size());
}

void Cleanse(std::string& text) {
  if (!text.empty()) OPENSSL_cleanse(text.data(), text.size());
  text.clear();
}

}  // namespace coffre::crypto
