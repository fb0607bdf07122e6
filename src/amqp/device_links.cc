#include "amqp/device_links.h"

#include <vector>

namespace coffre::amqp {

std::string DeviceLinks::KeyOf(const hub::TwinId& id) {
  return id.module_id ? id.device_id + "/" + *id.module_id : id.device_id;
}

uint64_t DeviceLinks::Add(const hub::TwinId& id, Handlers handlers) {
  std::lock_guard<std::mutex> guard(mu_);
  uint64_t token = next_++;
  std::string key = KeyOf(id);
  by_key_.emplace(key, token);
  entries_.emplace(token, Entry{std::move(key), std::move(handlers)});
  return token;
}

void DeviceLinks::Remove(uint64_t token) {
  std::lock_guard<std::mutex> guard(mu_);
  auto it = entries_.find(token);
  if (it == entries_.end()) return;
  auto [b, e] = by_key_.equal_range(it->second.key);
  for (auto k = b; k != e; ++k) {
    if (k->second == token) {
      by_key_.erase(k);
      break;
    }
  }
  entries_.erase(it);
}

void DeviceLinks::C2dWaiting(const std::string& device_id) {
  std::vector<std::function<void()>> wake;
  {
    std::lock_guard<std::mutex> guard(mu_);
    auto [b, e] = by_key_.equal_range(device_id);
    for (auto k = b; k != e; ++k) {
      const Handlers& h = entries_.at(k->second).handlers;
      if (h.c2d_waiting) wake.push_back(h.c2d_waiting);
    }
  }
  for (auto& fn : wake) fn();
}

bool DeviceLinks::DeliverMethod(const hub::TwinId& target, std::string_view name,
                                std::string_view rid, std::string_view payload) {
  std::function<bool(std::string, std::string, std::string)> deliver;
  {
    std::lock_guard<std::mutex> guard(mu_);
    auto [b, e] = by_key_.equal_range(KeyOf(target));
    for (auto k = b; k != e; ++k) {
      const Handlers& h = entries_.at(k->second).handlers;
      if (h.method) deliver = h.method;  // the newest link wins
    }
  }
  return deliver && deliver(std::string(name), std::string(rid), std::string(payload));
}

void DeviceLinks::SendDesired(const hub::TwinId& target, const std::string& patch) {
  std::vector<std::function<void(std::string)>> send;
  {
    std::lock_guard<std::mutex> guard(mu_);
    auto [b, e] = by_key_.equal_range(KeyOf(target));
    for (auto k = b; k != e; ++k) {
      const Handlers& h = entries_.at(k->second).handlers;
      if (h.desired) send.push_back(h.desired);
    }
  }
  for (auto& fn : send) fn(patch);
}

void DeviceLinks::Hold(const hub::TwinId& id, const void* conn,
                       std::function<void(std::string)> close) {
  std::string key = KeyOf(id);
  {
    std::lock_guard<std::mutex> guard(mu_);
    Holder& h = holders_[{key, conn}];
    if (h.links++ > 0) return;
    h.close = close;
  }
  if (connections_ == nullptr) return;
  // Outside the lock: Take kicks the older holder, which may be one of ours.
  uint64_t token = connections_->Take(key, [close, key] {
    close("Another connection of " + key + " took over.");
  });
  std::lock_guard<std::mutex> guard(mu_);
  auto it = holders_.find({key, conn});
  if (it != holders_.end()) {
    it->second.token = token;
  } else {
    connections_->Release(key, token);  // its links ended meanwhile
  }
}

void DeviceLinks::Unhold(const hub::TwinId& id, const void* conn) {
  std::string key = KeyOf(id);
  uint64_t token = 0;
  {
    std::lock_guard<std::mutex> guard(mu_);
    auto it = holders_.find({key, conn});
    if (it == holders_.end() || --it->second.links > 0) return;
    token = it->second.token;
    holders_.erase(it);
  }
  if (connections_ != nullptr && token != 0) connections_->Release(key, token);
}

void DeviceLinks::IdentityChanged(const std::string& device_id,
                                  const std::optional<std::string>& module_id) {
  std::vector<std::function<void(std::string)>> close;
  {
    std::lock_guard<std::mutex> guard(mu_);
    for (const auto& [who, holder] : holders_) {
      const std::string& key = who.first;
      bool hit = module_id ? key == device_id + "/" + *module_id
                           : key == device_id || key.starts_with(device_id + "/");
      if (hit) close.push_back(holder.close);
    }
  }
  for (auto& fn : close) fn("The identity changed in the registry.");
}

}  // namespace coffre::amqp
