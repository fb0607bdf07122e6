#pragma once
// LocalFileKeyProvider: a KeyProvider backed by a key file on local disk, for development and
// tests only: the key sits beside the data it protects, which is exactly what a customer-managed
// key exists to avoid. The file is JSON:
//   {"name": "dev-key", "version": "1", "enabled": true, "k": "<base64url of 32 bytes>"}
// It must be owned by this user and closed to group and others (mode 0600), or every call is
// refused. The file is re-read on each call, so editing "enabled" takes effect at once.
// Wraps with AES-256 Key Wrap (RFC 3394, "A256KW"). Thread-safe.

#include <filesystem>
#include <memory>

#include "crypto/key_provider.h"

namespace coffre::keys {

class LocalFileKeyProvider : public crypto::KeyProvider {
 public:
  explicit LocalFileKeyProvider(std::filesystem::path path) : path_(std::move(path)) {}

  // Writes a new key file with a fresh random key, mode 0600. ALREADY_EXISTS if present.
  static Status CreateKeyFile(const std::filesystem::path& path, std::string_view name);

  Result<crypto::WrappedKey> Wrap(const crypto::SecretBytes& key) override;
  Result<crypto::SecretBytes> Unwrap(const crypto::WrappedKey& wrapped) override;
  Result<crypto::KeyDescription> Describe() override;

 private:
  struct LoadedKey;
  Result<LoadedKey> Load() const;

  std::filesystem::path path_;
};

}  // namespace coffre::keys
