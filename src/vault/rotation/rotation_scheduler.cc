#include "vault/rotation/rotation_scheduler.h"

#include "common/log.h"

namespace coffre::vault {

RotationScheduler::RotationScheduler(KeyVault& vault, KeyEventSink* sink, const Clock& clock,
                                     std::chrono::milliseconds period)
    : vault_(vault), sink_(sink), clock_(clock), period_(period) {}

RotationScheduler::~RotationScheduler() { Stop(); }

void RotationScheduler::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || stop_) return;
  thread_ = std::thread([this] { Loop(); });
}

void RotationScheduler::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RotationScheduler::Loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    (void)RunOnce();  // logged there; the next pass tries again
    lock.lock();
    wake_.wait_for(lock, period_, [this] { return stop_; });
  }
}

Status RotationScheduler::RunOnce() {
  std::lock_guard run(run_mu_);
  Result<std::vector<KeyPolicyState>> keys = vault_.ListPolicyStates();
  if (!keys.has_value()) {
    LogLine("rotation-scheduler", "cannot list keys: " + keys.error().ToString());
    return keys.error();
  }
  Status first = Status::Ok();
  for (const KeyPolicyState& key : *keys) {
    // Read per key: a rotation of the previous key may have taken a while.
    Status s = Evaluate(key, clock_.NowSeconds());
    if (s.ok()) continue;
    LogLine("rotation-scheduler", "key " + key.latest.name + ": " + s.ToString());
    if (first.ok()) first = s;
  }
  return first;
}

Status RotationScheduler::Evaluate(const KeyPolicyState& key, int64_t now) {
  const KeyVersion& latest = key.latest;
  if (const LifetimeAction* rotate = key.policy.Find(LifetimeActionType::kRotate)) {
    std::optional<int64_t> due;
    if (rotate->trigger == LifetimeTrigger::kTimeAfterCreate) {
      due = latest.created + rotate->time.seconds;
    } else if (latest.exp) {
      due = *latest.exp - rotate->time.seconds;
    }
    if (due && now >= *due) {
      Result<KeyVersion> rotated = vault_.Rotate(latest.name, latest.version);
      if (!rotated.has_value()) {
        StatusCode code = rotated.error().code();
        // Rotated, deleted or purged meanwhile: the next pass sees what is there now.
        if (code == StatusCode::kFailedPrecondition || code == StatusCode::kNotFound) {
          return Status::Ok();
        }
        return rotated.error();
      }
      LogLine("rotation-scheduler", "rotated key " + latest.name + " by its policy: version " +
                                        rotated->version + " replaces " + latest.version);
      return Status::Ok();  // the new version is evaluated on the next pass
    }
  }
  if (!latest.exp) return Status::Ok();
  if (now >= *latest.exp) return PublishOnce(event_type::kKeyExpired, latest, now);
  const LifetimeAction* notify = key.policy.Find(LifetimeActionType::kNotify);
  if (notify != nullptr && now >= *latest.exp - notify->time.seconds) {
    return PublishOnce(event_type::kKeyNearExpiry, latest, now);
  }
  return Status::Ok();
}

Status RotationScheduler::PublishOnce(std::string_view type, const KeyVersion& version,
                                      int64_t now) {
  // Marked first: a crash in between loses the event rather than sending it twice.
  Result<bool> first = vault_.MarkPublished(version.name, type, version.version);
  if (!first.has_value()) {
    return first.error().code() == StatusCode::kNotFound ? Status::Ok() : first.error();
  }
  if (!*first || sink_ == nullptr) return Status::Ok();
  sink_->Publish(
      KeyEvent{std::string(type), version.name, version.version, version.nbf, version.exp, now});
  return Status::Ok();
}

}  // namespace coffre::vault
