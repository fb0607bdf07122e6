#pragma once
// KeyTimeline: what happened to the hub's customer-managed key while this process ran, for the
// status page: when it became Accessible or Inaccessible (and why), and when the key version
// that wraps the root key changed (a rotation). The last kMaxEvents events are kept, in memory
// only (the vault's audit log is the lasting record). Thread-safe.

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "hub/key_monitor.h"

namespace coffre::hub {

struct KeyEvent {
  int64_t time_ms = 0;
  std::string kind;  // "started", "accessible", "inaccessible", "rotated"
  std::string reason;  // why Inaccessible (KeyDisabled, ...), or why the grace period runs
  std::string key_id;  // the key version wrapping the root key then
};

class KeyTimeline {
 public:
  static constexpr size_t kMaxEvents = 500;

  // The status as now seen; an event is kept when it differs from the last one seen (the first
  // one is "started").
  void Record(const EncryptionStatus& status, int64_t now_ms);
  std::vector<KeyEvent> Events() const;  // oldest first

 private:
  void Add(KeyEvent event);

  mutable std::mutex mu_;
  std::deque<KeyEvent> events_;
  bool seen_ = false;
  bool accessible_ = true;
  std::string key_id_;
};

}  // namespace coffre::hub
