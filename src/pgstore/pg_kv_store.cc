#include "pgstore/pg_kv_store.h"

#include <openssl/sha.h>

#include <algorithm>
#include <optional>

#include "common/encoding.h"
#include "pgstore/pg_schema_lock.h"

namespace coffre::pgstore {
namespace {

constexpr size_t kScanPage = 1000;

std::string Where(std::string_view key) { return "kv/" + std::string(key); }

// The advisory lock that stands for a row in Transact: the first 8 bytes of a digest of its
// key. A clash with another (pgstore/pg_writer_lock.cc's fixed number, or another key's) is as
// unlikely as a digest collision, and would only make two unrelated callers wait in turn.
int64_t LockId(std::string_view key) {
  const std::string named = "coffre kv lock " + std::string(key);
  std::byte digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(named.data()), named.size(),
         reinterpret_cast<unsigned char*>(digest));
  return static_cast<int64_t>(GetU64(digest));
}

// Takes the rows' advisory locks until the end of `db`'s transaction, in one order (sorted,
// once each): two transactions locking the same rows never wait for each other in a circle.
Status LockRows(PgConnection& db, std::vector<int64_t> locks) {
  std::sort(locks.begin(), locks.end());
  locks.erase(std::unique(locks.begin(), locks.end()), locks.end());
  for (int64_t lock : locks) {
    COFFRE_RETURN_IF_ERROR(db.Exec("SELECT pg_advisory_xact_lock($1)", {PgParam::Int(lock)}).status());
  }
  return Status::Ok();
}

// The smallest key greater than every key starting with `prefix`; empty if there is none.
std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (!end.empty()) end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

// The rows (key and value in hex) starting with `prefix`, in key order, in one statement:
// those after `after` if set, at most `limit` (0: all).
Result<PgRows> SelectUnder(PgConnection& db, std::string_view prefix,
                           const std::optional<std::string>& after, size_t limit) {
  std::string sql = "SELECT encode(key, 'hex'), encode(value, 'hex') FROM coffre_kv WHERE ";
  sql += after ? "key > $1" : "key >= $1";
  std::vector<PgParam> params = {PgParam::Bytes(AsBytes(after ? *after : std::string(prefix)))};
  if (const std::string end = PrefixEnd(prefix); !end.empty()) {
    sql += " AND key < $2";
    params.push_back(PgParam::Bytes(AsBytes(end)));
  }
  sql += " ORDER BY key";
  if (limit > 0) sql += " LIMIT " + std::to_string(limit);
  return db.Exec(sql, params);
}

}  // namespace

Result<std::unique_ptr<PgKvStore>> PgKvStore::Open(PgPool& pool, PgRowCipher& cipher) {
  Status ran = pool.Run([](PgConnection& db) {
    return WithSchemaLock(db, [&]() -> Status {
      COFFRE_RETURN_IF_ERROR(db.Exec("CREATE TABLE IF NOT EXISTS coffre_kv (key bytea PRIMARY "
                                     "KEY, value bytea NOT NULL)").status());
      // Rows written by Sync() (below), one per server process.
      return db.Exec("CREATE TABLE IF NOT EXISTS coffre_kv_sync (one int PRIMARY KEY, syncs bigint)")
          .status();
    });
  });
  COFFRE_RETURN_IF_ERROR(ran);
  return std::unique_ptr<PgKvStore>(new PgKvStore(pool, cipher));
}

Status PgKvStore::Run(const std::function<Status(PgConnection&)>& fn) {
  if (!snapshot_) return pool_.Run(fn);
  std::lock_guard<std::mutex> lock(snapshot_mu_);
  return fn(*snapshot_);  // no retry: on another connection it would be another moment
}

Result<std::unique_ptr<storage::KvStore>> PgKvStore::Snapshot() {
  if (snapshot_) return FailedPrecondition("a snapshot of a snapshot");
  COFFRE_ASSIGN_OR_RETURN(auto connection, pool_.Connect());
  COFFRE_RETURN_IF_ERROR(
      connection->Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").status());
  // The transaction's snapshot is taken by its first statement: now, not at the first read.
  COFFRE_RETURN_IF_ERROR(connection->Exec("SELECT 1 FROM coffre_kv LIMIT 1").status());
  std::unique_ptr<PgKvStore> snapshot(new PgKvStore(pool_, cipher_));
  snapshot->snapshot_ = std::move(connection);
  return std::unique_ptr<storage::KvStore>(std::move(snapshot));
}

Status PgKvStore::Writable() const {
  return snapshot_ ? FailedPrecondition("a snapshot of the metadata store is read-only")
                   : Status::Ok();
}

Result<Bytes> PgKvStore::SealFor(std::string_view key, ByteSpan value) {
  return cipher_.Seal(Where(key), value);
}

Result<Bytes> PgKvStore::GetOn(PgConnection& db, std::string_view key) {
  COFFRE_ASSIGN_OR_RETURN(PgRows rows, db.Exec("SELECT encode(value, 'hex') FROM coffre_kv "
                                               "WHERE key = $1", {PgParam::Bytes(AsBytes(key))}));
  if (rows.size() == 0) return NotFound("no such key");
  COFFRE_ASSIGN_OR_RETURN(Bytes sealed, HexDecode(rows.Value(0, 0)));
  return cipher_.Open(Where(key), sealed);
}

Status PgKvStore::ScanOn(PgConnection& db, std::string_view prefix,
                         const std::function<void(std::string_view, ByteSpan)>& row) {
  COFFRE_ASSIGN_OR_RETURN(PgRows rows, SelectUnder(db, prefix, std::nullopt, 0));
  std::string last;
  return OpenEach(rows, [&](std::string_view key, ByteSpan value) {
    row(key, value);
    return true;
  }, last).status();
}

Result<Bytes> PgKvStore::Get(std::string_view key) {
  std::optional<Result<Bytes>> value;
  Status ran = Run([&](PgConnection& db) -> Status {
    value = GetOn(db, key);
    // A row that does not open is the answer, not a reason to ask again.
    return value->has_value() ? Status::Ok() : (value->error().code() == StatusCode::kUnavailable
                                                    ? value->error()
                                                    : Status::Ok());
  });
  COFFRE_RETURN_IF_ERROR(ran);
  return std::move(*value);
}

Status PgKvStore::Put(std::string_view key, ByteSpan value, bool sync) {
  return Write({{std::string(key), Bytes(value.begin(), value.end()), false}}, sync);
}

Status PgKvStore::Delete(std::string_view key, bool sync) {
  return Write({{std::string(key), {}, true}}, sync);
}

Result<std::vector<Bytes>> PgKvStore::SealAll(const std::vector<storage::KvWrite>& batch) {
  std::vector<Bytes> sealed(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!batch[i].erase) {
      COFFRE_ASSIGN_OR_RETURN(sealed[i], SealFor(batch[i].key, batch[i].value));
    }
  }
  return sealed;
}

Status PgKvStore::WriteOn(PgConnection& db, const std::vector<storage::KvWrite>& batch,
                          const std::vector<Bytes>& sealed, bool sync) {
  // An unsynced write (a telemetry head, rewritten at every commit) need not wait for the
  // standby: as with RocksDB, a later synced write or Sync() makes it durable.
  if (!sync) COFFRE_RETURN_IF_ERROR(db.Exec("SET LOCAL synchronous_commit TO off").status());
  for (size_t i = 0; i < batch.size(); ++i) {
    PgParam key = PgParam::Bytes(AsBytes(batch[i].key));
    if (batch[i].erase) {
      COFFRE_RETURN_IF_ERROR(db.Exec("DELETE FROM coffre_kv WHERE key = $1", {key}).status());
    } else {
      COFFRE_RETURN_IF_ERROR(db.Exec("INSERT INTO coffre_kv VALUES ($1, $2) ON CONFLICT (key) "
                                     "DO UPDATE SET value = excluded.value",
                                     {key, PgParam::Bytes(sealed[i])}).status());
    }
  }
  return Status::Ok();
}

Status PgKvStore::Write(const std::vector<storage::KvWrite>& batch, bool sync) {
  COFFRE_RETURN_IF_ERROR(Writable());
  COFFRE_ASSIGN_OR_RETURN(std::vector<Bytes> sealed, SealAll(batch));
  // Upserts and deletes are idempotent: a retry after an unknown outcome writes the same rows.
  return pool_.Run([&](PgConnection& db) {
    return db.Transaction([&]() { return WriteOn(db, batch, sealed, sync); });
  });
}

Status PgKvStore::Transact(const std::vector<std::string>& lock_keys,
                           const std::function<Status(storage::KvTxn&)>& fn, bool sync) {
  COFFRE_RETURN_IF_ERROR(Writable());
  std::vector<int64_t> locks;
  for (const std::string& key : lock_keys) locks.push_back(LockId(key));
  Status declined;  // fn's own error: returned as is, never retried
  Status ran = pool_.Run([&](PgConnection& db) {
    return db.Transaction([&]() -> Status {
      COFFRE_RETURN_IF_ERROR(LockRows(db, locks));
      Status store_error;  // a failed read of the store, retried if the connection was lost
      auto noted = [&](const Status& read) {
        if (read.code() == StatusCode::kUnavailable && store_error.ok()) store_error = read;
      };
      storage::KvTxn txn(
          [&](std::string_view key) {
            Result<Bytes> value = GetOn(db, key);
            if (!value.has_value()) noted(value.error());
            return value;
          },
          [&](std::string_view prefix, const auto& row) {
            Status scanned = ScanOn(db, prefix, row);
            noted(scanned);
            return scanned;
          });
      declined = fn(txn);
      if (!store_error.ok()) return store_error;
      if (!declined.ok()) return FailedPrecondition("declined");  // ROLLBACK, no retry
      if (txn.writes().empty()) return Status::Ok();
      COFFRE_ASSIGN_OR_RETURN(std::vector<Bytes> sealed, SealAll(txn.writes()));
      return WriteOn(db, txn.writes(), sealed, sync);
    });
  });
  return declined.ok() ? ran : declined;
}

Status PgKvStore::PutIfAbsent(std::string_view key, ByteSpan value, bool sync) {
  COFFRE_RETURN_IF_ERROR(Writable());
  COFFRE_ASSIGN_OR_RETURN(Bytes sealed, SealFor(key, value));
  const PgParam row = PgParam::Bytes(AsBytes(key));
  bool ours = false;
  Status ran = pool_.Run([&](PgConnection& db) {
    return db.Transaction([&]() -> Status {
      if (!sync) COFFRE_RETURN_IF_ERROR(db.Exec("SET LOCAL synchronous_commit TO off").status());
      COFFRE_RETURN_IF_ERROR(LockRows(db, {LockId(key)}));
      // Inserted now, or by this call's earlier try whose answer was lost: the same bytes.
      COFFRE_ASSIGN_OR_RETURN(
          PgRows rows, db.Exec("INSERT INTO coffre_kv VALUES ($1, $2) ON CONFLICT (key) DO "
                               "UPDATE SET value = excluded.value WHERE coffre_kv.value = "
                               "excluded.value RETURNING 1",
                               {row, PgParam::Bytes(sealed)}));
      ours = rows.size() == 1;
      return Status::Ok();
    });
  });
  COFFRE_RETURN_IF_ERROR(ran);
  return ours ? Status::Ok() : AlreadyExists("the row already has a value");
}

Status PgKvStore::Sync() {
  // A synchronous commit waits for the WAL up to itself, so for every commit before it; but
  // only one that wrote something waits (an empty transaction, or one that only took a
  // transaction id, commits without waiting). So a row is written: the connection's own (its
  // server process id), so that the syncs of every hub node never queue on one row's lock.
  return pool_.Run([](PgConnection& db) {
    return db.Exec("INSERT INTO coffre_kv_sync VALUES (pg_backend_pid(), 1) ON CONFLICT (one) "
                   "DO UPDATE SET syncs = coffre_kv_sync.syncs + 1").status();
  });
}

Result<bool> PgKvStore::OpenEach(const PgRows& rows, const ScanFn& fn, std::string& last) {
  for (size_t r = 0; r < rows.size(); ++r) {
    COFFRE_ASSIGN_OR_RETURN(Bytes key, HexDecode(rows.Value(r, 0)));
    COFFRE_ASSIGN_OR_RETURN(Bytes sealed, HexDecode(rows.Value(r, 1)));
    last.assign(reinterpret_cast<const char*>(key.data()), key.size());
    COFFRE_ASSIGN_OR_RETURN(Bytes value, cipher_.Open(Where(last), sealed));
    if (!fn(last, value)) return false;
  }
  return true;
}

Status PgKvStore::Scan(std::string_view prefix, const ScanFn& fn) {
  std::optional<std::string> after;  // the last key seen; pages continue past it
  for (;;) {
    PgRows rows;
    // A page at a time, the connection returned before `fn` runs (it may use the store).
    Status ran = Run([&](PgConnection& db) -> Status {
      COFFRE_ASSIGN_OR_RETURN(rows, SelectUnder(db, prefix, after, kScanPage));
      return Status::Ok();
    });
    COFFRE_RETURN_IF_ERROR(ran);
    std::string last;
    COFFRE_ASSIGN_OR_RETURN(bool went_on, OpenEach(rows, fn, last));
    if (!went_on || rows.size() < kScanPage) return Status::Ok();
    after = std::move(last);
  }
}

Status PgKvStore::DestroyDeletedData() {
  return pool_.Run([](PgConnection& db) { return db.Exec("VACUUM coffre_kv").status(); });
}

}  // namespace coffre::pgstore
