#include "storage/kv_store.h"

namespace coffre::storage {

Status KvStore::Transact(const std::vector<std::string>& lock_keys,
                         const std::function<Status(KvTxn&)>& fn, bool sync) {
  KeyLocks::Held held = local_locks_.Lock(lock_keys);
  KvTxn txn([this](std::string_view key) { return Get(key); },
            [this](std::string_view prefix, const auto& row) {
              return Scan(prefix, [&](std::string_view key, ByteSpan value) {
                row(key, value);
                return true;
              });
            });
  COFFRE_RETURN_IF_ERROR(fn(txn));
  if (txn.writes().empty()) return Status::Ok();
  return Write(txn.writes(), sync);
}

Status KvStore::PutIfAbsent(std::string_view key, ByteSpan value, bool sync) {
  return Transact({std::string(key)}, [&](KvTxn& txn) -> Status {
    Result<Bytes> old = txn.Get(key);
    if (old.has_value()) return AlreadyExists("the row already has a value");
    if (old.error().code() != StatusCode::kNotFound) return old.error();
    txn.Put(key, value);
    return Status::Ok();
  }, sync);
}

}  // namespace coffre::storage
