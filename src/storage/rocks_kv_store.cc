#include "storage/rocks_kv_store.h"

#include "storage/rocks_encryption.h"

#include "common/log.h"

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/env_encryption.h>
#include <rocksdb/file_system.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

namespace coffre::storage {
namespace {

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  std::string m = std::string(what) + ": " + s.ToString();
  if (s.IsNotFound()) return NotFound(m);
  if (s.IsCorruption()) return DataLoss(m);
  if (s.IsIOError()) return Unavailable(m);
  return Internal(m);
}

rocksdb::Slice ToSlice(ByteSpan b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

Status ScanWith(rocksdb::DB& db, const rocksdb::ReadOptions& read, std::string_view prefix,
                const std::function<bool(std::string_view, ByteSpan)>& fn) {
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(read));
  rocksdb::Slice p(prefix.data(), prefix.size());
  for (it->Seek(p); it->Valid() && it->key().starts_with(p); it->Next()) {
    rocksdb::Slice v = it->value();
    if (!fn(std::string_view(it->key().data(), it->key().size()),
            ByteSpan(reinterpret_cast<const std::byte*>(v.data()), v.size()))) {
      break;
    }
  }
  return FromRocks(it->status(), "scan");
}

rocksdb::WriteOptions WriteOpts(bool sync) {
  rocksdb::WriteOptions o;
  o.sync = sync;
  return o;
}

}  // namespace

RocksKvStore::RocksKvStore(std::unique_ptr<rocksdb::Env> env, std::unique_ptr<rocksdb::DB> db)
    : encrypted_env_(std::move(env)), db_(std::move(db)) {}
RocksKvStore::~RocksKvStore() = default;

Result<std::unique_ptr<RocksKvStore>> RocksKvStore::Open(const std::filesystem::path& dir,
                                                         const Options& store_options) {
  rocksdb::Options options;
  if (store_options.env != nullptr) options.env = store_options.env;
  std::unique_ptr<rocksdb::Env> encrypted;
  if (store_options.service_key != nullptr) {
    std::shared_ptr<rocksdb::FileSystem> base = options.env->GetFileSystem();
    encrypted = rocksdb::NewCompositeEnv(
        rocksdb::NewEncryptedFS(base, NewFileCipherProvider(*store_options.service_key)));
    options.env = encrypted.get();
  }
  options.create_if_missing = true;
  options.paranoid_checks = true;
  // Old write-ahead logs are deleted, not archived, so erased data does not linger in them.
  options.WAL_ttl_seconds = 0;
  options.WAL_size_limit_MB = 0;
  options.keep_log_file_num = 2;
  options.max_manifest_file_size = 4 << 20;
  // Values are ciphertext (sealed above storage): compressing them only costs time.
  options.compression = rocksdb::kNoCompression;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir.string(), &raw);
  if (!s.ok()) return FromRocks(s, "open RocksDB at " + dir.string());
  std::unique_ptr<RocksKvStore> store(
      new RocksKvStore(std::move(encrypted), std::unique_ptr<rocksdb::DB>(raw)));
  store->reserve_ = store_options.reserve;
  return store;
}

// What a write adds to the write-ahead log, with room for its record header: it must leave the
// reserve free (RocksDB is never driven into a full disk).
Status RocksKvStore::Room(size_t bytes) {
  return reserve_ != nullptr ? reserve_->Check(bytes + 64) : Status::Ok();
}

Result<Bytes> RocksKvStore::Get(std::string_view key) {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), rocksdb::Slice(key.data(), key.size()), &value);
  if (!s.ok()) return FromRocks(s, "get");
  ByteSpan b = AsBytes(value);
  return Bytes(b.begin(), b.end());
}

Status RocksKvStore::Writable() const {
  if (!write_failed_.load(std::memory_order_acquire)) return Status::Ok();
  std::lock_guard<std::mutex> guard(write_error_mu_);
  return Unavailable("the metadata store failed a write (" + write_error_ +
                     "); it takes no more writes until the hub is restarted");
}

Status RocksKvStore::Written(const rocksdb::Status& s, std::string_view what) {
  Status out = FromRocks(s, what);
  if (out.ok()) return out;
  {
    std::lock_guard<std::mutex> guard(write_error_mu_);
    if (write_failed_.load(std::memory_order_relaxed)) return out;
    write_error_ = out.message();
    write_failed_.store(true, std::memory_order_release);
  }
  LogLine(LogLevel::kError, "storage", "the metadata store failed a write (" + out.message() +
                         "): refusing every write until the hub is restarted (reads go on)");
  return out;
}

std::optional<std::string> RocksKvStore::write_error() const {
  if (!write_failed_.load(std::memory_order_acquire)) return std::nullopt;
  std::lock_guard<std::mutex> guard(write_error_mu_);
  return write_error_;
}

Status RocksKvStore::Put(std::string_view key, ByteSpan value, bool sync) {
  COFFRE_RETURN_IF_ERROR(Writable());
  COFFRE_RETURN_IF_ERROR(Room(key.size() + value.size()));
  return Written(
      db_->Put(WriteOpts(sync), rocksdb::Slice(key.data(), key.size()), ToSlice(value)), "put");
}

Status RocksKvStore::Delete(std::string_view key, bool sync) {
  COFFRE_RETURN_IF_ERROR(Writable());
  COFFRE_RETURN_IF_ERROR(Room(key.size()));
  return Written(db_->Delete(WriteOpts(sync), rocksdb::Slice(key.data(), key.size())), "delete");
}

Status RocksKvStore::Write(const std::vector<KvWrite>& batch, bool sync) {
  COFFRE_RETURN_IF_ERROR(Writable());
  size_t bytes = 0;
  for (const KvWrite& w : batch) bytes += w.key.size() + w.value.size();
  COFFRE_RETURN_IF_ERROR(Room(bytes));
  rocksdb::WriteBatch wb;
  for (const KvWrite& w : batch) {
    rocksdb::Status s = w.erase ? wb.Delete(w.key) : wb.Put(w.key, ToSlice(w.value));
    if (!s.ok()) return FromRocks(s, "batch");
  }
  return Written(db_->Write(WriteOpts(sync), &wb), "write batch");
}

Status RocksKvStore::Scan(std::string_view prefix,
                          const std::function<bool(std::string_view, ByteSpan)>& fn) {
  return ScanWith(*db_, rocksdb::ReadOptions(), prefix, fn);
}

Status RocksKvStore::Sync() {
  COFFRE_RETURN_IF_ERROR(Writable());
  return Written(db_->SyncWAL(), "sync WAL");
}

namespace {

// A RocksDB snapshot read through the KvStore interface; released with the view.
class RocksSnapshotView : public KvStore {
 public:
  explicit RocksSnapshotView(rocksdb::DB& db) : db_(db), snapshot_(db.GetSnapshot()) {
    read_.snapshot = snapshot_;
  }
  ~RocksSnapshotView() override { db_.ReleaseSnapshot(snapshot_); }

  Result<Bytes> Get(std::string_view key) override {
    std::string value;
    rocksdb::Status s = db_.Get(read_, rocksdb::Slice(key.data(), key.size()), &value);
    if (!s.ok()) return FromRocks(s, "get");
    ByteSpan b = AsBytes(value);
    return Bytes(b.begin(), b.end());
  }
  Status Put(std::string_view, ByteSpan, bool) override { return ReadOnly(); }
  Status Delete(std::string_view, bool) override { return ReadOnly(); }
  Status Write(const std::vector<KvWrite>&, bool) override { return ReadOnly(); }
  Status Sync() override { return ReadOnly(); }
  Status Scan(std::string_view prefix,
              const std::function<bool(std::string_view, ByteSpan)>& fn) override {
    return ScanWith(db_, read_, prefix, fn);
  }

 private:
  static Status ReadOnly() { return FailedPrecondition("a snapshot of the store is read-only"); }

  rocksdb::DB& db_;
  const rocksdb::Snapshot* snapshot_;
  rocksdb::ReadOptions read_;
};

}  // namespace

Result<std::unique_ptr<KvStore>> RocksKvStore::Snapshot() {
  return std::unique_ptr<KvStore>(new RocksSnapshotView(*db_));
}

Status RocksKvStore::DestroyDeletedData() {
  COFFRE_RETURN_IF_ERROR(Writable());
  rocksdb::FlushOptions flush;
  flush.wait = true;
  COFFRE_RETURN_IF_ERROR(Written(db_->Flush(flush), "flush"));
  COFFRE_RETURN_IF_ERROR(Written(db_->FlushWAL(true), "sync WAL"));
  rocksdb::CompactRangeOptions compact;
  compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  compact.change_level = false;
  COFFRE_RETURN_IF_ERROR(Written(db_->CompactRange(compact, nullptr, nullptr), "compact"));
  // Flushing again rolls the WAL onto a new file, so the one that saw the data becomes
  // obsolete and is deleted.
  COFFRE_RETURN_IF_ERROR(Written(db_->Flush(flush), "flush"));
  return Status::Ok();
}

}  // namespace coffre::storage
