#pragma once
// SecretBytes: key material. The bytes live in OpenSSL's secure heap (see secure_heap.h) and are
// zeroized when the object dies or Wipe() is called. Move-only: a copy must be asked for with
// Clone(). It prints as "<secret 32B>", and compares in constant time. The only ways to the bytes
// are Reveal() and RevealMutable(), so every use of key bytes is easy to grep.
// Thread-compatible.

#include <cstddef>
#include <ostream>

#include "common/bytes.h"
#include "common/result.h"

namespace coffre::crypto {

class SecretBytes {
 public:
  SecretBytes() = default;  // empty
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  ~SecretBytes();

  // Zero-filled. Fails when the secure heap is full.
  static Result<SecretBytes> Allocate(size_t size);
  // Fresh bytes from OpenSSL's private DRBG.
  static Result<SecretBytes> Random(size_t size);
  // Copies `bytes` in; the caller remains responsible for wiping its own copy.
  static Result<SecretBytes> CopyOf(ByteSpan bytes);

  Result<SecretBytes> Clone() const;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  ByteSpan Reveal() const { return {data_, size_}; }
  MutableByteSpan RevealMutable() { return {data_, size_}; }

  // Zeroizes and releases the bytes now; the object becomes empty.
  void Wipe();

  // Constant time in the length of the shorter operand.
  friend bool operator==(const SecretBytes& a, const SecretBytes& b);

 private:
  SecretBytes(std::byte* data, size_t size) : data_(data), size_(size) {}

  std::byte* data_ = nullptr;
  size_t size_ = 0;
};

std::ostream& operator<<(std::ostream& os, const SecretBytes& s);

// Zeroizes a buffer that held secret bytes outside SecretBytes (a decoded JSON field, say).
void Cleanse(MutableByteSpan bytes);
void Cleanse(std::string& text);

}  // namespace coffre::crypto
