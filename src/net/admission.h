#pragma once
// Admission: counts the connections that have not authenticated yet, in total and per source
// address, so that a client (or many) cannot hold the hub's memory with connections that never
// send a CONNECT (MQTT) or an open (AMQP): past either cap, a new connection is refused at accept. A slot is taken at
// accept and given back when the connection authenticates or closes. Thread-safe.

#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace coffre::net {

class Admission {
 public:
  Admission(size_t max_total, size_t max_per_source)
      : max_total_(max_total), max_per_source_(max_per_source) {}

  // Takes a slot for `source`; false (nothing taken) when a cap is reached.
  bool Admit(const std::string& source);
  void Release(const std::string& source);
  size_t pending() const;

 private:
  const size_t max_total_, max_per_source_;
  mutable std::mutex mu_;
  size_t total_ = 0;                                  // guarded by mu_
  std::unordered_map<std::string, size_t> by_source_;  // guarded by mu_; no zero entries
};

}  // namespace coffre::net
