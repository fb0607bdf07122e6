#pragma once
// AES-256-GCM (NIST SP 800-38D) through OpenSSL EVP with 96-bit nonces and 128-bit tags.
// The key schedule is set up once; each call only sets the nonce, so sealing small records costs
// little more than the cipher itself. The caller owns nonce uniqueness: envelope.h and
// data_key_writer.h say how Coffre guarantees it.
// Thread-compatible: one AesGcm per thread (the OpenSSL contexts are reused across calls).

#include <array>
#include <initializer_list>
#include <memory>

#include "common/bytes.h"
#include "common/result.h"
#include "crypto/ossl.h"
#include "crypto/secret_bytes.h"

namespace coffre::crypto {

inline constexpr size_t kAesGcmKeySize = 32;
inline constexpr size_t kAesGcmNonceSize = 12;
inline constexpr size_t kAesGcmTagSize = 16;

using GcmNonce = std::array<std::byte, kAesGcmNonceSize>;

// The one error every failed open returns, whatever failed (wrong key, tag, nonce, AAD, length),
// so that no caller can learn which part of its forgery was wrong.
Status OpenFailed();

class AesGcm {
 public:
  // `key` must be 32 bytes. The key schedule is kept inside OpenSSL's context, which OpenSSL
  // zeroizes when this object dies.
  static Result<std::unique_ptr<AesGcm>> Create(const SecretBytes& key);

  // out = ciphertext || tag; out.size() must be plaintext.size() + kAesGcmTagSize.
  // The AAD is the concatenation of the parts.
  Status Seal(const GcmNonce& nonce, std::initializer_list<ByteSpan> aad, ByteSpan plaintext,
              MutableByteSpan out);

  // sealed = ciphertext || tag; out.size() must be sealed.size() - kAesGcmTagSize.
  // Any failure returns OpenFailed() and leaves `out` zeroed.
  Status Open(const GcmNonce& nonce, std::initializer_list<ByteSpan> aad, ByteSpan sealed,
              MutableByteSpan out);

  // Conveniences that allocate the output.
  Result<Bytes> Seal(const GcmNonce& nonce, std::initializer_list<ByteSpan> aad,
                     ByteSpan plaintext);
  Result<Bytes> Open(const GcmNonce& nonce, std::initializer_list<ByteSpan> aad, ByteSpan sealed);

 private:
  AesGcm(CipherCtx enc, CipherCtx dec) : enc_(std::move(enc)), dec_(std::move(dec)) {}

  CipherCtx enc_;
  CipherCtx dec_;
};

}  // namespace coffre::crypto
