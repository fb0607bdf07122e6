#pragma once
// DeviceConnections: which connection holds each device or module identity, across protocols
// (MQTT sessions, AMQP connections with device links). One connection per identity, as Azure IoT
// Hub: a connection that takes an identity another one holds makes the older one close (its
// `kick`, called outside the lock, which must only post the close to its own thread). Keys are
// "device" or "device/module". Thread-safe.

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace coffre::hub {

class DeviceConnections {
 public:
  using Kick = std::function<void()>;
  // Makes the caller the holder of `key`; the previous holder, if any, is kicked. A token for
  // Release.
  uint64_t Take(const std::string& key, Kick kick);
  // Gives `key` up if `token` still holds it (a kicked holder's release does nothing).
  void Release(const std::string& key, uint64_t token);
  size_t size() const;

  // Cluster mode: told of each Take and each Release that gave a key up (key, token), after
  // it and outside the lock, so that a node's sessions can be claimed across nodes
  // (hubservice/cluster_sessions.h). Set before use.
  struct Observer {
    std::function<void(const std::string& key, uint64_t token)> taken;
    std::function<void(const std::string& key, uint64_t token)> released;
  };
  void SetObserver(Observer observer) { observer_ = std::move(observer); }
  // Kicks and forgets the holder of `key` if it is still `token` (a connection of the same
  // identity on another node replaced it); whether it was.
  bool KickIf(const std::string& key, uint64_t token);

 private:
  // Removes the holder of `key` if it is still `token` (telling the observer), and returns its
  // kick; nullopt if another holds the key.
  std::optional<Kick> Forget(const std::string& key, uint64_t token);

  struct Holder {
    uint64_t token = 0;
    Kick kick;
  };
  mutable std::mutex mu_;
  uint64_t next_ = 1;                      // guarded by mu_
  std::map<std::string, Holder> holders_;  // guarded by mu_
  Observer observer_;                      // set before use
};

}  // namespace coffre::hub
