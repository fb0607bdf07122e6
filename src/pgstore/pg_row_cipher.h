#pragma once
// PgRowCipher: the infrastructure layer of double encryption in cluster mode. PostgreSQL 15
// keeps no encryption at rest of its own, so every value the hub writes there is sealed here
// first, under the service key, the way the file cipher does it for the embedded engines: a
// database administrator, a standby or a stolen data directory sees ciphertext (over values
// the customer layer has sealed already). AES-256-GCM with the AAD naming where the value
// belongs (its table and key), so a value moved to another row does not open.
// Sealed form (docs/formats/pg-rows.md): 0x01 | salt (16) | nonce (12) | ciphertext | tag (16).
// The key is HKDF-SHA256(service key, "coffre pg rows " + hex(salt)). Each cipher seals under a
// random salt of its own with random nonces, and takes a new salt after 2^31 seals (inside the
// 2^32 budget of random 96-bit nonces per key); it keeps the keys of the salts it opened.
// Thread-safe.

#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <string_view>

#include "common/bytes.h"
#include "common/result.h"
#include "crypto/aes_gcm.h"
#include "crypto/secret_bytes.h"

namespace coffre::pgstore {

inline constexpr size_t kRowSaltBytes = 16;
// What sealing adds to a value.
inline constexpr size_t kRowOverhead =
    1 + kRowSaltBytes + crypto::kAesGcmNonceSize + crypto::kAesGcmTagSize;

class PgRowCipher {
 public:
  // The service key is copied (into locked memory).
  static Result<std::unique_ptr<PgRowCipher>> Create(const crypto::SecretBytes& service_key);

  Result<Bytes> Seal(std::string_view where, ByteSpan plain);
  // DATA_LOSS if `sealed` was not sealed for `where` under this service key, or was changed.
  // The plaintext is the caller's to cleanse.
  Result<Bytes> Open(std::string_view where, ByteSpan sealed);

 private:
  using Salt = std::array<std::byte, kRowSaltBytes>;
  explicit PgRowCipher(crypto::SecretBytes service_key) : service_key_(std::move(service_key)) {}
  Result<crypto::AesGcm*> KeyFor(const Salt& salt);  // with mu_ held
  Status NewSalt();                                  // with mu_ held

  crypto::SecretBytes service_key_;
  std::mutex mu_;
  Salt salt_{};                                            // guarded by mu_: sealing's
  uint64_t seals_ = 0;                                     // guarded by mu_: under salt_
  std::map<Salt, std::unique_ptr<crypto::AesGcm>> keys_;  // guarded by mu_
};

}  // namespace coffre::pgstore
