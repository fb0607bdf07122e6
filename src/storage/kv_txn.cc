#include "storage/kv_txn.h"

namespace coffre::storage {

Result<Bytes> KvTxn::Get(std::string_view key) {
  for (auto it = writes_.rbegin(); it != writes_.rend(); ++it) {
    if (it->key != key) continue;
    if (it->erase) return NotFound("no such key");
    return it->value;
  }
  return read_stored_(key);
}

void KvTxn::Put(std::string_view key, ByteSpan value) {
  writes_.push_back({std::string(key), Bytes(value.begin(), value.end()), false});
}

void KvTxn::Delete(std::string_view key) { writes_.push_back({std::string(key), {}, true}); }

}  // namespace coffre::storage
