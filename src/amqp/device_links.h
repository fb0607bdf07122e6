#pragma once
// DeviceLinks: the device links open on every AMQP connection, by identity, so that what the hub
// has for a device reaches it from any thread: a C2D message arrived (the C2D link fetches it),
// a direct method (the methods link sends it), a desired-properties patch (the twin link, once
// subscribed). A link registers what it serves when it attaches and removes it when it detaches;
// the handlers post to the link's connection strand. Thread-safe.

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "hub/twin_store.h"

namespace coffre::amqp {

class DeviceLinks {
 public:
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
  std::mutex mu_;
  uint64_t next_ = 1;                    // guarded by mu_
  std::map<uint64_t, Entry> entries_;    // guarded by mu_
  std::multimap<std::string, uint64_t> by_key_;  // guarded by mu_
};

}  // namespace coffre::amqp
