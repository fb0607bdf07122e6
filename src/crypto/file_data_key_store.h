#pragma once
// FileDataKeyStore: a DataKeyStore in one directory, safe for several processes at once.
//   epoch-<scope>       the last reserved epoch (8 bytes, big-endian), replaced durably
//   dek-<scope>-<epoch> a wrapped data key, created with link() so it is never replaced
//   lock                flock()ed while an epoch is reserved
// Used by tests and single-node tools; the hub keeps the same records in its metadata store.
// Thread-safe.

#include <filesystem>
#include <memory>
#include <mutex>

#include "crypto/data_key_store.h"

namespace coffre::crypto {

class FileDataKeyStore : public DataKeyStore {
 public:
  static Result<std::unique_ptr<FileDataKeyStore>> Open(const std::filesystem::path& dir);

  Result<uint64_t> ReserveEpoch(uint32_t scope) override;
  Status PutWrapped(DataKeyId id, ByteSpan wrapped) override;
  Result<Bytes> GetWrapped(DataKeyId id) override;
  Status DeleteWrapped(DataKeyId id) override;

 private:
  explicit FileDataKeyStore(std::filesystem::path dir) : dir_(std::move(dir)) {}

  std::filesystem::path dir_;
  std::mutex mu_;  // flock is per open file description; this orders threads of one process
};

}  // namespace coffre::crypto
