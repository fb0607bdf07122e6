#pragma once
// KvDataKeyStore: a crypto::DataKeyStore inside a KvStore (keys "dek/epoch/<scope>" and
// "dek/key/<scope>/<epoch>"), with synced writes. Epochs are reserved in a KvStore
// transaction and keys stored only if absent, so the promises hold between the hub nodes
// sharing one store too. Thread-safe.

#include "crypto/data_key_store.h"
#include "storage/kv_store.h"

namespace coffre::storage {

class KvDataKeyStore : public crypto::DataKeyStore {
 public:
  // kv must outlive this object.
  explicit KvDataKeyStore(KvStore& kv) : kv_(kv) {}

  Result<uint64_t> ReserveEpoch(uint32_t scope) override;
  Status PutWrapped(crypto::DataKeyId id, ByteSpan wrapped) override;
  Result<Bytes> GetWrapped(crypto::DataKeyId id) override;
  Status DeleteWrapped(crypto::DataKeyId id) override;

 private:
  KvStore& kv_;
};

}  // namespace coffre::storage
