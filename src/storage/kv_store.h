#pragma once
// KvStore: an ordered key-value store over opaque bytes. Storage never sees plaintext: callers
// seal values above it. `sync` writes are durable (on disk, fsynced) when they return.
// Implementations are thread-safe.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"
#include "storage/key_locks.h"
#include "storage/kv_txn.h"
#include "storage/kv_write.h"

namespace coffre::storage {

class KvStore {
 public:
  virtual ~KvStore() = default;

  // NOT_FOUND if absent.
  virtual Result<Bytes> Get(std::string_view key) = 0;
  virtual Status Put(std::string_view key, ByteSpan value, bool sync) = 0;
  virtual Status Delete(std::string_view key, bool sync) = 0;
  // All or nothing.
  virtual Status Write(const std::vector<KvWrite>& batch, bool sync) = 0;
  // Makes every write made so far durable (as a synced write would).
  virtual Status Sync() = 0;
  // Read-modify-write made atomic, also between processes sharing the store (hub nodes on one
  // PostgreSQL): `fn` reads with txn.Get (and lists with txn.Keys) and stages writes, committed
  // together if it returns OK (nothing is written if it fails, and its error is returned).
  // Transact calls whose `lock_keys` share a key run one after the other, so every writer of a
  // row that others read-modify-write must go through Transact (or PutIfAbsent) naming it (a
  // lock key is only a name: one standing for every row under a prefix is the callers' rule).
  // `fn` may run more than once (again after a lost connection): it must decide from what it
  // reads. It must not wait for other callers of the store (in cluster mode it holds a
  // connection of a bounded pool, and row locks).
  // The default is for a store one process opens (RocksDB): a lock per key in this process.
  virtual Status Transact(const std::vector<std::string>& lock_keys,
                          const std::function<Status(KvTxn&)>& fn, bool sync);
  // Stores `value` under `key` unless the key has one: ALREADY_EXISTS then. Atomic as
  // Transact on `key` is.
  virtual Status PutIfAbsent(std::string_view key, ByteSpan value, bool sync);
  // Calls `fn` for each key starting with `prefix`, in key order, until it returns false.
  virtual Status Scan(std::string_view prefix,
                      const std::function<bool(std::string_view key, ByteSpan value)>& fn) = 0;
  // A read-only view of the store as it is now, unchanged by later writes (its writes fail
  // with FAILED_PRECONDITION): a consistent backup reads every row of one moment. It must not
  // outlive the store. UNIMPLEMENTED where the engine cannot.
  virtual Result<std::unique_ptr<KvStore>> Snapshot() {
    return Unimplemented("this store takes no snapshots");
  }
  // Why the store refuses every write until it is opened again (a failed disk), or nullopt.
  virtual std::optional<std::string> write_error() const { return std::nullopt; }

 private:
  KeyLocks local_locks_;  // the default Transact's
};

}  // namespace coffre::storage
