#include "hub/device_connections.h"

namespace coffre::hub {

uint64_t DeviceConnections::Take(const std::string& key, Kick kick) {
  Kick older;
  uint64_t token = 0;
  {
    std::lock_guard<std::mutex> guard(mu_);
    token = next_++;
    Holder& h = holders_[key];
    older = std::move(h.kick);
    h = Holder{token, std::move(kick)};
  }
  if (older) older();
  if (observer_.taken) observer_.taken(key, token);
  return token;
}

std::optional<DeviceConnections::Kick> DeviceConnections::Forget(const std::string& key,
                                                                 uint64_t token) {
  std::optional<Kick> kick;
  {
    std::lock_guard<std::mutex> guard(mu_);
    auto it = holders_.find(key);
    if (it == holders_.end() || it->second.token != token) return std::nullopt;
    kick = std::move(it->second.kick);
    holders_.erase(it);
  }
  if (observer_.released) observer_.released(key, token);
  return kick;
}

bool DeviceConnections::KickIf(const std::string& key, uint64_t token) {
  std::optional<Kick> kick = Forget(key, token);
  if (!kick) return false;
  if (*kick) (*kick)();
  return true;
}

void DeviceConnections::Release(const std::string& key, uint64_t token) {
  (void)Forget(key, token);  // its kick destroyed outside the lock
}

size_t DeviceConnections::size() const {
  std::lock_guard<std::mutex> guard(mu_);
  return holders_.size();
}

}  // namespace coffre::hub
