#pragma once
// DeviceLinks: the device links open on every AMQP connection, by identity, so that what the hub
// has for a device reaches it from any thread: a C2D message arrived (the C2D link fetches it),
// a direct method (the methods link sends it), a desired-properties patch (the twin link, once
// subscribed). A link registers what it serves when it attaches and removes it when it detaches;
// the handlers post to the link's connection strand.
// It also makes a connection the identity's one (hub::DeviceConnections) while it has device
// links of it: a newer connection of the identity, on either protocol, closes this one; and any
// change of the identity in the registry (deleted, disabled, keys or thumbprints replaced,
// updated) closes the connections holding it, whose clients then connect again with what holds
// now. Thread-safe.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <utility>
#include <mutex>
#include <string>
#include <string_view>

#include "hub/device_connections.h"
#include "hub/identity_listener.h"
#include "hub/twin_store.h"

namespace coffre::amqp {

class DeviceLinks : public hub::IdentityListener {
 public:
  // Set before the first link (nullptr: not enforced across connections).
  void SetConnections(hub::DeviceConnections* connections) { connections_ = connections; }

  // A device link of connection `conn` for `id` attached (Hold) or ended (Unhold); `close`
  // posts the connection's close (any thread).
  void Hold(const hub::TwinId& id, const void* conn, std::function<void(std::string why)> close);
  void Unhold(const hub::TwinId& id, const void* conn);

  void IdentityChanged(const std::string& device_id,
                       const std::optional<std::string>& module_id) override;

  struct Handlers {
    std::function<void()> c2d_waiting;
    // Takes the request (posting it to the strand); false if it cannot.
    std::function<bool(std::string name, std::string rid, std::string payload)> method;
    std::function<void(std::string patch)> desired;
  };

  // A token for Remove.
  uint64_t Add(const hub::TwinId& id, Handlers handlers);
  void Remove(uint64_t token);

  void C2dWaiting(const std::string& device_id);
  // False if no methods link of the identity takes it.
  bool DeliverMethod(const hub::TwinId& target, std::string_view name, std::string_view rid,
                     std::string_view payload);
  void SendDesired(const hub::TwinId& target, const std::string& patch);

 private:
  static std::string KeyOf(const hub::TwinId& id);
  struct Entry {
    std::string key;
    Handlers handlers;
  };
  struct Holder {
    int links = 0;
    uint64_t token = 0;  // DeviceConnections'
    std::function<void(std::string)> close;
  };
  hub::DeviceConnections* connections_ = nullptr;
  std::mutex mu_;
  std::map<std::pair<std::string, const void*>, Holder> holders_;  // guarded by mu_
  uint64_t next_ = 1;                    // guarded by mu_
  std::map<uint64_t, Entry> entries_;    // guarded by mu_
  std::multimap<std::string, uint64_t> by_key_;  // guarded by mu_
};

}  // namespace coffre::amqp
