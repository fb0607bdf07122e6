#include "storage/kv_data_key_store.h"

#include <string>

namespace coffre::storage {
namespace {

std::string KeyName(crypto::DataKeyId id) {
  return "dek/key/" + std::to_string(id.scope) + "/" + std::to_string(id.epoch);
}

}  // namespace

Result<uint64_t> KvDataKeyStore::ReserveEpoch(uint32_t scope) {
  std::lock_guard<std::mutex> guard(mu_);
  std::string key = "dek/epoch/" + std::to_string(scope);
  uint64_t last = 0;
  Result<Bytes> old = kv_.Get(key);
  if (old.has_value()) {
    if (old->size() != 8) return DataLoss("epoch record of scope " + std::to_string(scope));
    last = GetU64(old->data());
  } else if (old.error().code() != StatusCode::kNotFound) {
    return old.error();
  }
  std::byte next[8];
  PutU64(next, last + 1);
  COFFRE_RETURN_IF_ERROR(kv_.Put(key, next, /*sync=*/true));
  return last + 1;
}

Status KvDataKeyStore::PutWrapped(crypto::DataKeyId id, ByteSpan wrapped) {
  std::lock_guard<std::mutex> guard(mu_);
  std::string key = KeyName(id);
  Result<Bytes> existing = kv_.Get(key);
  if (existing.has_value()) return AlreadyExists("data key " + key + " is already stored");
  if (existing.error().code() != StatusCode::kNotFound) return existing.error();
  return kv_.Put(key, wrapped, /*sync=*/true);
}

Result<Bytes> KvDataKeyStore::GetWrapped(crypto::DataKeyId id) { return kv_.Get(KeyName(id)); }

Status KvDataKeyStore::DeleteWrapped(crypto::DataKeyId id) {
  return kv_.Delete(KeyName(id), /*sync=*/true);
}

}  // namespace coffre::storage
