#pragma once
// A hub's backup file (`coffre hub backup`; layout: docs/FORMAT.md, "Backups"): a header in the
// clear, then the hub's metadata rows and telemetry records as a stream cut into chunks, each
// sealed with AES-256-GCM under a key derived from the hub root key for this backup alone. The
// customer's key guards a backup as it guards the hub: revoked or deleted, no backup opens
// either. Each chunk's AAD binds the header's digest, the chunk's number and whether it is the
// last, so a changed header, a chunk changed, dropped, moved or repeated, and a file cut short
// are refused with DATA_LOSS, never restored. Rows and records go in as stored (sealed by the
// customer layer already), so a restored hub's chains and digests are the ones it had.
//
// BackupWriter and BackupReader are each for one thread.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "common/bytes.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "crypto/aes_gcm.h"
#include "crypto/secret_bytes.h"
#include "storage/segment_log.h"

namespace coffre::hub {

struct BackupHeader {
  std::string hub_name;
  int64_t created_ms = 0;
  Bytes salt;  // 16 random bytes; the backup key is the root key's for KeyLabel()
  // What a restore needs before the stream opens, as the metadata store holds them: the
  // encryption settings (which key wraps the root key) and the wrapped root key.
  Bytes settings_row;
  Bytes root_key_row;
  int partitions = 0;
  uint64_t records = 0;  // telemetry records in the backup, for progress

  std::string KeyLabel() const;  // "backup/<salt in hex>"
};

struct BackupEntry {
  enum class Kind { kRow, kPartition, kRecord, kEnd };
  Kind kind = Kind::kEnd;
  // kRow
  std::string key;
  Bytes value;
  // kPartition: its records [first, end) follow (those missing in the hub are missing here)
  int partition = 0;
  uint64_t first = 0;
  uint64_t end = 0;
  // kRecord
  storage::StoredRecord record;
  // kEnd: how many rows and records the backup holds
  uint64_t rows = 0;
  uint64_t records = 0;
};

class BackupWriter {
 public:
  // Writes the header to `fd` now. `room(bytes)` is asked before each write (the disk
  // reserve); null: no check.
  static Result<std::unique_ptr<BackupWriter>> Start(UniqueFd fd, const BackupHeader& header,
                                                     const crypto::SecretBytes& key,
                                                     std::function<Status(size_t)> room = nullptr);

  Status AddRow(std::string_view key, ByteSpan value);
  Status BeginPartition(int partition, uint64_t first, uint64_t end);
  Status AddRecord(const storage::StoredRecord& record);
  // The end entry and the last chunk, then fsync. Nothing may be added after.
  Status Finish();

  uint64_t bytes_written() const { return written_; }
  uint64_t records() const { return records_; }

 private:
  BackupWriter(UniqueFd fd, std::unique_ptr<crypto::AesGcm> aead, Bytes header_digest,
               std::function<Status(size_t)> room);
  Status SealChunk(size_t bytes, bool last);
  Status Flush();  // every whole chunk but the last (more may follow)
  Status WriteOut(ByteSpan data);

  UniqueFd fd_;
  std::unique_ptr<crypto::AesGcm> aead_;
  Bytes header_digest_;
  std::function<Status(size_t)> room_;
  Bytes plain_;  // not yet sealed
  uint64_t chunk_ = 0;
  uint64_t written_ = 0;
  uint64_t rows_ = 0;
  uint64_t records_ = 0;
  bool finished_ = false;
};

class BackupReader {
 public:
  // Reads and checks the header only; DATA_LOSS if it is not a backup of ours.
  static Result<std::unique_ptr<BackupReader>> Open(UniqueFd fd);
  static Result<std::unique_ptr<BackupReader>> Open(const std::filesystem::path& path);

  const BackupHeader& header() const { return header_; }
  // The key for header().KeyLabel(); before Next.
  Status Unlock(const crypto::SecretBytes& key);
  // The next entry, in the order written; the last is kEnd, whose counts were checked and after
  // which nothing follows. DATA_LOSS for anything damaged, missing or out of place.
  Result<BackupEntry> Next();

  uint64_t bytes_read() const { return read_; }

 private:
  BackupReader(UniqueFd fd, BackupHeader header, Bytes header_digest, uint64_t read);
  Status Need(size_t bytes);  // at least `bytes` unread plaintext, opening chunks as needed
  Status OpenChunk();

  UniqueFd fd_;
  BackupHeader header_;
  Bytes header_digest_;
  std::unique_ptr<crypto::AesGcm> aead_;
  Bytes plain_;
  size_t at_ = 0;  // the next unread byte of plain_
  uint64_t chunk_ = 0;
  uint64_t read_ = 0;
  uint64_t rows_ = 0;
  uint64_t records_ = 0;
  bool last_opened_ = false;
  bool ended_ = false;
};

}  // namespace coffre::hub
