#pragma once
// The infrastructure layer of double encryption: every file the storage engines write is
// encrypted with AES-256-CTR under a random key of its own, and that per-file key is stored in
// the file's header wrapped (AES Key Wrap, RFC 3394) under the service key, which the hub
// operator holds. Rotating the service key re-wraps headers only. With the service key alone
// nothing of the customer's data is readable (records are sealed above storage); without it,
// nothing at all. Header layout: docs/formats/file-cipher.md.
// FileCipher is immutable after creation and thread-safe (each Apply uses its own context).

#include <array>
#include <filesystem>
#include <memory>

#include "common/bytes.h"
#include "common/result.h"
#include "crypto/secret_bytes.h"

namespace coffre::storage {

inline constexpr size_t kFileCipherHeaderBytes = 128;

// The service key file: JSON {"version":1,"k":"<base64url of 32 bytes>"}, owned by the user,
// mode 0600 (refused otherwise).
Status CreateServiceKeyFile(const std::filesystem::path& path);
Result<crypto::SecretBytes> LoadServiceKeyFile(const std::filesystem::path& path);

class FileCipher {
 public:
  // A fresh per-file key and counter base; `header` receives the kFileCipherHeaderBytes to
  // store at the front of the file.
  static Result<std::unique_ptr<FileCipher>> CreateNew(const crypto::SecretBytes& service_key,
                                                       MutableByteSpan header);
  // PERMISSION_DENIED if the header was written under another service key; DATA_LOSS if it is
  // not a header of ours.
  static Result<std::unique_ptr<FileCipher>> FromHeader(const crypto::SecretBytes& service_key,
                                                        ByteSpan header);

  // Encrypts or decrypts (the same XOR) `data` found at `offset` of the encrypted stream.
  Status Apply(uint64_t offset, MutableByteSpan data) const;

 private:
  FileCipher(crypto::SecretBytes key, std::array<std::byte, 16> iv)
      : key_(std::move(key)), iv_(iv) {}
  crypto::SecretBytes key_;
  std::array<std::byte, 16> iv_;
};

}  // namespace coffre::storage
