#include "storage/kv_txn.h"

#include <set>

namespace coffre::storage {

Result<Bytes> KvTxn::Get(std::string_view key) {
  for (auto it = writes_.rbegin(); it != writes_.rend(); ++it) {
    if (it->key != key) continue;
    if (it->erase) return NotFound("no such key");
    return it->value;
  }
  if (auto it = stored_.find(key); it != stored_.end()) return it->second;
  Result<Bytes> stored = read_stored_(key);
  if (stored.has_value() || stored.error().code() == StatusCode::kNotFound) {
    stored_.emplace(std::string(key), stored);
  }
  return stored;
}

Result<std::vector<std::string>> KvTxn::Keys(std::string_view prefix) {
  std::set<std::string, std::less<>> keys;
  COFFRE_RETURN_IF_ERROR(scan_stored_(prefix, [&](std::string_view key, ByteSpan value) {
    stored_.emplace(std::string(key), Bytes(value.begin(), value.end()));
    keys.emplace(key);
  }));
  for (const KvWrite& w : writes_) {
    if (!w.key.starts_with(prefix)) continue;
    if (w.erase) {
      keys.erase(w.key);
    } else {
      keys.insert(w.key);
    }
  }
  return std::vector<std::string>(keys.begin(), keys.end());
}

void KvTxn::Put(std::string_view key, ByteSpan value) {
  writes_.push_back({std::string(key), Bytes(value.begin(), value.end()), false});
}

void KvTxn::Delete(std::string_view key) { writes_.push_back({std::string(key), {}, true}); }

}  // namespace coffre::storage
