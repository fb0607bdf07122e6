#pragma once
// RocksKvStore: KvStore on RocksDB (embedded mode). DestroyDeletedData() makes deletions
// physical: it flushes, compacts everything down to the last level (dropping overwritten and
// deleted values), and lets RocksDB delete the old write-ahead logs and table files, so that no
// copy of erased data stays in the store's files.
// A write the disk fails (EIO on the write-ahead log, or anything but a refusal of the disk
// reserve) makes the store refuse every later write with UNAVAILABLE, while reads go on: RocksDB
// 7.8 as Debian builds it aborts the process on a write after a failed WAL write. Opening the
// store again (a restart of the hub) writes again. A write already under way in another thread
// when the first one fails is not stopped. Thread-safe.

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "storage/disk_reserve.h"
#include "storage/kv_store.h"

namespace rocksdb {
class DB;
class Env;
class Status;
}  // namespace rocksdb

namespace coffre::crypto {
class SecretBytes;
}

namespace coffre::storage {

class RocksKvStore : public KvStore {
 public:
  struct Options {
    rocksdb::Env* env = nullptr;  // tests: a fault-injecting file system; must outlive the store
    // The infrastructure layer: every file encrypted under its own key, wrapped under this one
    // (storage/file_cipher.h). Null: files in the clear (the vault, whose records are sealed).
    const crypto::SecretBytes* service_key = nullptr;
    // Writes are refused (RESOURCE_EXHAUSTED) before they would eat into this reserve of free
    // space; null: none. Must outlive the store.
    DiskReserve* reserve = nullptr;
  };
  static Result<std::unique_ptr<RocksKvStore>> Open(const std::filesystem::path& dir,
                                                    const Options& options);
  static Result<std::unique_ptr<RocksKvStore>> Open(const std::filesystem::path& dir) {
    return Open(dir, Options{});
  }
  ~RocksKvStore() override;

  Result<Bytes> Get(std::string_view key) override;
  Status Put(std::string_view key, ByteSpan value, bool sync) override;
  Status Delete(std::string_view key, bool sync) override;
  Status Write(const std::vector<KvWrite>& batch, bool sync) override;
  Status Sync() override;
  Status Scan(std::string_view prefix,
              const std::function<bool(std::string_view key, ByteSpan value)>& fn) override;
  Result<std::unique_ptr<KvStore>> Snapshot() override;

  Status DestroyDeletedData();
  // Why writes are refused (the first failed write's error), or nullopt.
  std::optional<std::string> write_error() const override;

 private:
  RocksKvStore(std::unique_ptr<rocksdb::Env> env, std::unique_ptr<rocksdb::DB> db);
  Status Room(size_t bytes);
  Status Writable() const;  // UNAVAILABLE once a write failed
  Status Written(const rocksdb::Status& s, std::string_view what);  // a write's outcome

  std::unique_ptr<rocksdb::Env> encrypted_env_;  // outlives db_
  std::unique_ptr<rocksdb::DB> db_;
  DiskReserve* reserve_ = nullptr;
  std::atomic<bool> write_failed_{false};
  mutable std::mutex write_error_mu_;
  std::string write_error_;  // guarded by write_error_mu_
};

}  // namespace coffre::storage
