#pragma once
// SealedRows: the hub's JSON records in the metadata store (devices, policies, consumer groups,
// checkpoints), each sealed by the customer layer with AAD = its row key, so that a record
// cannot be moved to another row or read without the hub's keys. A row can be named by an HMAC
// of the record's name under a root-derived key (HashedRow), so the store does not even reveal
// names. Every write goes through the hub's RowDigests (hub/row_digests.h), which detect a
// row put back from an older copy. Thread-safe.

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/result.h"
#include "hub/hub_keys.h"
#include "storage/kv_store.h"

namespace coffre::hub {

class SealedRows;

// The rows of one SealedRows::Transact: records read as they are now (their rows locked), and
// the records to write when it commits. Reads see this transaction's own writes. They are
// staged apart from the store's transaction, whose reads must still give the old values (the
// digests take them out).
class SealedTxn {
 public:
  Result<nlohmann::json> Load(const std::string& row);  // NOT_FOUND if absent
  // The rows under `prefix` as this transaction sees them, in key order; Load reads them
  // without asking the store again. Lock the prefix (a lock row ending in '/').
  Result<std::vector<std::string>> Rows(std::string_view prefix);
  Status Store(const std::string& row, const nlohmann::json& record);
  void Erase(const std::string& row);

 private:
  friend class SealedRows;
  SealedTxn(SealedRows& rows, storage::KvTxn& txn, crypto::EnvelopeWriter& writer);
  SealedRows& rows_;
  storage::KvTxn staged_;            // this transaction's sealed writes, over the store's reads
  crypto::EnvelopeWriter& writer_;  // started before the transaction (that writes the store)
};

class SealedRows {
 public:
  // kv and keys must outlive the rows.
  SealedRows(storage::KvStore& kv, HubKeys& keys) : kv_(kv), keys_(keys) {}

  // prefix + hex of the first 16 bytes of HMAC-SHA256(key derived from the root for `label`,
  // name).
  Result<std::string> HashedRow(std::string_view prefix, std::string_view label,
                                std::string_view name);

  Result<nlohmann::json> Load(const std::string& row);  // NOT_FOUND if absent
  // Durable on return unless `sync` is false (soft state: written, not waited for).
  Status Store(const std::string& row, const nlohmann::json& record, bool sync = true);
  // Read-modify-write of `row`, atomic across every hub node on the store (the row is locked
  // from the read to the commit): `change` gets its record (NOT_FOUND if absent) and returns
  // the record to store, or nullopt to erase it, with the rows of `also_erase` in the same
  // write. An error from `change` leaves everything as it was and is returned. `change` may run
  // more than once (after a lost connection) and must not use the store.
  using Change = std::function<Result<std::optional<nlohmann::json>>(Result<nlohmann::json>)>;
  Status Update(const std::string& row, const Change& change, bool sync = true,
                const std::vector<std::string>& also_erase = {});
  // Read-modify-write of several rows, as Update: `fn` reads and writes through the SealedTxn
  // rows among `rows` (all locked from the first read to the commit; a row may be locked and
  // never written, as a lock for a whole table's rule). A row ending in '/' is a prefix lock:
  // `fn` may list (SealedTxn::Rows) and write every row under it, so every writer of a row
  // under that prefix must lock the prefix itself (RowDigests::Update refuses a row written under no lock, but cannot tell
  // whether another writer skipped the prefix).
  Status Transact(const std::vector<std::string>& rows, const std::function<Status(SealedTxn&)>& fn,
                  bool sync = true);
  Status Erase(const std::string& row);                                // durable on return
  Status EraseAll(const std::vector<std::string>& rows);  // in one write, durable on return
  // Row keys under prefix, in key order, at most `max` (0: all), after `after` if not empty.
  Result<std::vector<std::string>> Rows(std::string_view prefix, size_t max = 0,
                                        std::string_view after = {});

 private:
  friend class SealedTxn;
  Result<nlohmann::json> Open(const std::string& row, ByteSpan sealed);
  Result<Bytes> Seal(const std::string& row, const nlohmann::json& record);
  static Result<Bytes> SealWith(crypto::EnvelopeWriter& writer, const std::string& row,
                                const nlohmann::json& record);
  // The writer of sealed rows, started (a store write) if there is none or it is spent.
  Result<std::shared_ptr<crypto::EnvelopeWriter>> Writer();

  storage::KvStore& kv_;
  HubKeys& keys_;
  std::mutex mu_;
  std::shared_ptr<crypto::EnvelopeWriter> writer_;  // guarded by mu_
};

}  // namespace coffre::hub
