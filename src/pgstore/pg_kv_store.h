#pragma once
// PgKvStore: the hub's metadata store (registry, twins, C2D, checkpoints, key state) as a
// storage::KvStore in PostgreSQL, for cluster mode. One table, coffre_kv (key bytea PRIMARY
// KEY, value bytea), ordered bytewise as RocksDB orders keys. Every value is sealed by the
// infrastructure layer (PgRowCipher, AAD: its key) before it leaves the hub; keys are stored as
// given (the hub names device rows by keyed digests of their ids: hub/sealed_rows.h). Each write
// is its own transaction. A `sync` write returns once durable as the server commits
// (synchronous replication: pgstore/pg_durability.h); an unsynced one does not wait for that
// (synchronous_commit off for its transaction), and Sync() waits for every earlier one.
// Thread-safe.
// Snapshot() is a read-only REPEATABLE READ transaction on a connection of its own: a backup
// reads every row as of one moment while writes go on.

#include <memory>
#include <mutex>

#include "pgstore/pg_pool.h"
#include "pgstore/pg_row_cipher.h"
#include "storage/kv_store.h"

namespace coffre::pgstore {

class PgKvStore : public storage::KvStore {
 public:
  // Makes the table if missing. pool and cipher must outlive the store.
  static Result<std::unique_ptr<PgKvStore>> Open(PgPool& pool, PgRowCipher& cipher);

  Result<Bytes> Get(std::string_view key) override;
  Status Put(std::string_view key, ByteSpan value, bool sync) override;
  Status Delete(std::string_view key, bool sync) override;
  Status Write(const std::vector<storage::KvWrite>& batch, bool sync) override;
  Status Sync() override;
  using ScanFn = std::function<bool(std::string_view key, ByteSpan value)>;
  Status Scan(std::string_view prefix, const ScanFn& fn) override;
  Result<std::unique_ptr<storage::KvStore>> Snapshot() override;
  // One transaction on one connection, after PostgreSQL's transaction-scoped advisory lock on
  // each lock key (hashed; in one order, so no deadlock): the lock holds every hub node on the
  // store out until the commit, synchronous replication included. The transaction's reads and
  // listings (one statement each) are made on that connection.
  Status Transact(const std::vector<std::string>& lock_keys,
                  const std::function<Status(storage::KvTxn&)>& fn, bool sync) override;
  // A retry after a lost answer that finds its own value (the sealed bytes are unique) is OK.
  Status PutIfAbsent(std::string_view key, ByteSpan value, bool sync) override;

  // Erasure: VACUUM, so deleted values leave the table's pages (they stay in WAL files until
  // PostgreSQL recycles them; docs/CLUSTER.md).
  Status DestroyDeletedData();

 private:
  PgKvStore(PgPool& pool, PgRowCipher& cipher) : pool_(pool), cipher_(cipher) {}
  Status Writable() const;  // FAILED_PRECONDITION for a snapshot
  Result<Bytes> SealFor(std::string_view key, ByteSpan value);
  // The row's value, opened, read on `db`.
  Result<Bytes> GetOn(PgConnection& db, std::string_view key);
  // Every row under `prefix`, opened, read on `db` in one statement (inside a transaction).
  Status ScanOn(PgConnection& db, std::string_view prefix,
                const std::function<void(std::string_view key, ByteSpan value)>& row);
  // The rows SelectUnder gave, opened, to `fn` until it returns false (then false); `last`:
  // the last key given.
  Result<bool> OpenEach(const PgRows& rows, const ScanFn& fn, std::string& last);
  // The writes as upserts and deletes on `db`, inside its open transaction.
  static Status WriteOn(PgConnection& db, const std::vector<storage::KvWrite>& batch,
                        const std::vector<Bytes>& sealed, bool sync);
  Result<std::vector<Bytes>> SealAll(const std::vector<storage::KvWrite>& batch);
  // fn on a pooled connection, or on the snapshot's own.
  Status Run(const std::function<Status(PgConnection&)>& fn);

  PgPool& pool_;
  PgRowCipher& cipher_;
  std::unique_ptr<PgConnection> snapshot_;  // set: a snapshot, read-only
  std::mutex snapshot_mu_;                  // one statement at a time on it
};

}  // namespace coffre::pgstore
