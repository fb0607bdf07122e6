#include "storage/key_locks.h"

#include <algorithm>
#include <functional>

namespace coffre::storage {

KeyLocks::Held::~Held() {
  for (auto it = held_.rbegin(); it != held_.rend(); ++it) (*it)->unlock();
}

KeyLocks::Held KeyLocks::Lock(const std::vector<std::string>& keys) {
  std::vector<size_t> stripes;
  for (const std::string& key : keys) stripes.push_back(std::hash<std::string>{}(key) % stripes_.size());
  std::sort(stripes.begin(), stripes.end());
  stripes.erase(std::unique(stripes.begin(), stripes.end()), stripes.end());
  Held held;
  for (size_t stripe : stripes) {
    stripes_[stripe].lock();
    held.held_.push_back(&stripes_[stripe]);
  }
  return held;
}

}  // namespace coffre::storage
