#include "storage/kv_data_key_store.h"

#include <string>

namespace coffre::storage {
namespace {

std::string KeyName(crypto::DataKeyId id) {
  return "dek/key/" + std::to_string(id.scope) + "/" + std::to_string(id.epoch);
}

}  // namespace

Result<uint64_t> KvDataKeyStore::ReserveEpoch(uint32_t scope) {
  const std::string key = "dek/epoch/" + std::to_string(scope);
  uint64_t reserved = 0;
  // A transaction: two hub nodes on one store never get the same epoch.
  Status done = kv_.Transact({key}, [&](KvTxn& txn) -> Status {
    uint64_t last = 0;
    Result<Bytes> old = txn.Get(key);
    if (old.has_value()) {
      if (old->size() != 8) return DataLoss("epoch record of scope " + std::to_string(scope));
      last = GetU64(old->data());
    } else if (old.error().code() != StatusCode::kNotFound) {
      return old.error();
    }
    std::byte next[8];
    PutU64(next, last + 1);
    txn.Put(key, next);
    reserved = last + 1;
    return Status::Ok();
  }, /*sync=*/true);
  COFFRE_RETURN_IF_ERROR(done);
  return reserved;
}

Status KvDataKeyStore::PutWrapped(crypto::DataKeyId id, ByteSpan wrapped) {
  const std::string key = KeyName(id);
  Status put = kv_.PutIfAbsent(key, wrapped, /*sync=*/true);
  if (put.code() == StatusCode::kAlreadyExists) {
    return AlreadyExists("data key " + key + " is already stored");
  }
  return put;
}

Result<Bytes> KvDataKeyStore::GetWrapped(crypto::DataKeyId id) { return kv_.Get(KeyName(id)); }

Status KvDataKeyStore::DeleteWrapped(crypto::DataKeyId id) {
  return kv_.Delete(KeyName(id), /*sync=*/true);
}

}  // namespace coffre::storage
