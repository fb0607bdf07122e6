#pragma once
// KvTxn: the reads and writes of one KvStore::Transact. Reads see the transaction's own
// writes; the writes are staged and take effect together when the transaction commits. A row
// read from the store is read once: its rows are locked, so a second read would say the same.

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"
#include "storage/kv_write.h"

namespace coffre::storage {

class KvTxn {
 public:
  // A committed row (NOT_FOUND if absent), read inside the transaction.
  using ReadStored = std::function<Result<Bytes>(std::string_view key)>;
  // Calls `row` for each committed row under `prefix`, in key order, read inside the
  // transaction.
  using ScanStored = std::function<Status(
      std::string_view prefix, const std::function<void(std::string_view key, ByteSpan value)>& row)>;
  KvTxn(ReadStored read_stored, ScanStored scan_stored)
      : read_stored_(std::move(read_stored)), scan_stored_(std::move(scan_stored)) {}

  // NOT_FOUND if absent (also after this transaction's Delete).
  Result<Bytes> Get(std::string_view key);
  // The keys starting with `prefix` as this transaction sees them (its own writes included),
  // in key order. The stored values are read with them: a Get of one reads the store no more.
  // Only as stable as the locks make it: the caller locks what covers the prefix.
  Result<std::vector<std::string>> Keys(std::string_view prefix);
  void Put(std::string_view key, ByteSpan value);
  void Delete(std::string_view key);

  // In the order made; a later write of a key replaces an earlier one when applied in order.
  const std::vector<KvWrite>& writes() const { return writes_; }

 private:
  ReadStored read_stored_;
  ScanStored scan_stored_;
  std::map<std::string, Result<Bytes>, std::less<>> stored_;  // values and NOT_FOUNDs read
  std::vector<KvWrite> writes_;
};

}  // namespace coffre::storage
