#include "hub/key_timeline.h"

namespace coffre::hub {

void KeyTimeline::Record(const EncryptionStatus& status, int64_t now_ms) {
  std::lock_guard lock(mu_);
  if (!seen_) {
    seen_ = true;
    accessible_ = status.accessible;
    key_id_ = status.key_id;
    Add({now_ms, "started", status.accessible ? "" : status.reason, status.key_id});
    if (!status.accessible) Add({now_ms, "inaccessible", status.reason, status.key_id});
    return;
  }
  if (status.accessible != accessible_) {
    accessible_ = status.accessible;
    // The time the state began, as the monitor saw it (within a check of `now_ms`).
    int64_t at = status.since_ms > 0 && status.since_ms <= now_ms ? status.since_ms : now_ms;
    Add({at, status.accessible ? "accessible" : "inaccessible",
         status.accessible ? "" : status.reason, status.key_id});
  }
  if (!status.key_id.empty() && status.key_id != key_id_) {
    bool first = key_id_.empty();
    key_id_ = status.key_id;
    if (!first) Add({now_ms, "rotated", "", status.key_id});
  }
}

void KeyTimeline::Add(KeyEvent event) {
  events_.push_back(std::move(event));
  if (events_.size() > kMaxEvents) events_.pop_front();
}

std::vector<KeyEvent> KeyTimeline::Events() const {
  std::lock_guard lock(mu_);
  return {events_.begin(), events_.end()};
}

}  // namespace coffre::hub
