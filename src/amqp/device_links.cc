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

}  // namespace coffre::amqp
