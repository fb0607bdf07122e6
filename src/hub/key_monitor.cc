#include "hub/key_monitor.h"

#include <algorithm>
#include <optional>

#include "common/log.h"
#include "crypto/random.h"

namespace coffre::hub {
namespace {

std::string_view VersionOf(std::string_view key_id) {
  size_t slash = key_id.rfind('/');
  return slash == std::string_view::npos ? key_id : key_id.substr(slash + 1);
}

// The reason code for a refused call.
std::string ReasonFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kPermissionDenied:
    case StatusCode::kUnauthenticated: return "AccessDenied";
    case StatusCode::kFailedPrecondition: return "KeyDisabled";
    case StatusCode::kNotFound: return "KeyDeleted";
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded: return "VaultUnreachable";
    default: return "KeyUnusable";
  }
}

}  // namespace

KeyMonitor::KeyMonitor(HubKeys& keys, crypto::KeyProvider& provider, KeyMonitorOptions options,
                       OnChange on_change)
    : keys_(keys), provider_(provider), options_(std::move(options)), on_change_(std::move(on_change)) {
  status_.since_ms = status_.last_good_ms = Now();
  status_.key_id = keys_.wrapped_root().key_id;
  if (keys_.locked()) {  // opened without the vault: Inaccessible until a check succeeds
    status_.accessible = false;
    status_.reason = "VaultUnreachable";
    status_.last_good_ms = 0;
  }
}

KeyMonitor::~KeyMonitor() { Stop(); }

int64_t KeyMonitor::Now() const { return options_.clock->NowMillis(); }

void KeyMonitor::Start() {
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      woken_ = false;  // a wake from here on asks for a check after this one
      lock.unlock();
      auto started = std::chrono::steady_clock::now();
      CheckNow();
      lock.lock();
      // Woken early by Stop, Reconfigure or Wake; during a grace period, checked again right at
      // its end.
      auto wait = options_.interval;
      if (status_.accessible && !status_.reason.empty()) {
        // The last check of a grace period starts so that, if the vault still does not answer,
        // its timeout ends just past the period's end: Inaccessible on time, not a timeout late.
        // A check that fails fast before that point waits for the end itself.
        auto left = std::chrono::milliseconds(grace_since_ms_ + options_.grace.count() - Now());
        auto lead = kKeyCheckTimeout - kGraceEndMargin;
        wait = std::clamp(left > kKeyCheckTimeout ? left - lead : left,
                          std::chrono::milliseconds(0), wait);
      }
      wake_.wait_for(lock, wait, [this] { return stopping_ || woken_; });
      if (woken_) wake_.wait_until(lock, started + kMinWakeGap, [this] { return stopping_; });
    }
  });
}

void KeyMonitor::Stop() {
  {
    std::lock_guard<std::mutex> guard(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void KeyMonitor::set_key_uri(std::string key_uri) {
  std::lock_guard<std::mutex> guard(mu_);
  options_.key_uri = std::move(key_uri);
}

void KeyMonitor::Reconfigure(std::chrono::milliseconds interval, std::chrono::milliseconds grace,
                             bool expired_is_inaccessible) {
  {
    std::lock_guard<std::mutex> guard(mu_);
    options_.interval = interval;
    options_.grace = grace;
    options_.expired_is_inaccessible = expired_is_inaccessible;
  }
  Wake();  // a shorter interval applies now
}

void KeyMonitor::Wake() {
  {
    std::lock_guard<std::mutex> guard(mu_);
    woken_ = true;
  }
  wake_.notify_all();
}

uint64_t KeyMonitor::checks() const {
  std::lock_guard<std::mutex> guard(mu_);
  return checks_;
}

bool KeyMonitor::accessible() const {
  std::lock_guard<std::mutex> guard(mu_);
  return status_.accessible;
}

EncryptionStatus KeyMonitor::status() const {
  std::lock_guard<std::mutex> guard(mu_);
  return status_;
}

// get, then unwrapKey of the hub's own root, then wrapKey; then a locked hub unlocks.
KeyMonitor::Verdict KeyMonitor::Probe() {
  Verdict v;
  bool expired_is_inaccessible;
  {
    std::lock_guard<std::mutex> guard(mu_);
    expired_is_inaccessible = options_.expired_is_inaccessible;
  }
  auto refuse = [&v](const Status& s) {
    v.access = crypto::ClassifyKeyAccess(s);
    if (v.access == crypto::KeyAccess::kBroken) v.access = crypto::KeyAccess::kRevoked;
    v.reason = ReasonFor(s);
    v.detail = s.message();
    return v;
  };
  Result<crypto::KeyDescription> d = provider_.Describe();
  if (!d.has_value()) return refuse(d.error());
  v.current_version = d->version;
  v.purge_protected = d->purge_protected;
  bool expired_ok = d->state == crypto::KeyState::kExpired && !expired_is_inaccessible;
  if (!d->enabled() && !expired_ok) {
    v.access = crypto::KeyAccess::kRevoked;
    switch (d->state) {
      case crypto::KeyState::kExpired: v.reason = "KeyExpired"; break;
      case crypto::KeyState::kNotYetValid: v.reason = "KeyNotYetValid"; break;
      case crypto::KeyState::kDeleted: v.reason = "KeyDeleted"; break;
      default: v.reason = "KeyDisabled"; break;
    }
    v.detail = "the key " + d->id + " is " + std::string(crypto::KeyStateName(d->state));
    return v;
  }
  {
    Result<crypto::SecretBytes> root = provider_.Unwrap(keys_.wrapped_root());
    if (!root.has_value()) return refuse(root.error());
  }
  if (!expired_ok) {
    Result<crypto::SecretBytes> probe = crypto::SecretBytes::Random(32);
    if (!probe.has_value()) return refuse(probe.error());
    Result<crypto::WrappedKey> wrapped = provider_.Wrap(*probe);
    if (!wrapped.has_value()) return refuse(wrapped.error());
  }
  // Only once every right answered does a locked hub take its root key back.
  if (keys_.locked()) {
    if (Status s = keys_.Unlock(provider_); !s.ok()) return refuse(s);
  }
  return v;
}

void KeyMonitor::CheckNow() {
  std::lock_guard<std::mutex> one_at_a_time(check_mu_);
  auto started = std::chrono::steady_clock::now();
  Verdict v;
  try {
    v = Probe();
  } catch (const std::exception& e) {
    // The last line of defence (replies are read without exceptions): a check that throws
    // counts as a vault that did not answer, and the monitor's thread lives on.
    v = Verdict{};
    v.access = crypto::KeyAccess::kUnreachable;
    v.reason = "VaultUnreachable";
    v.detail = std::string("the key check failed: ") + e.what();
  }
  if (v.access == crypto::KeyAccess::kGranted && !v.current_version.empty() &&
      v.current_version != VersionOf(keys_.wrapped_root().key_id)) {
    // A rotation: follow it. On failure the old copy stays and the next check tries again.
    if (Status s = keys_.Rewrap(provider_); !s.ok()) {
      v.access = crypto::ClassifyKeyAccess(s);
      v.reason = ReasonFor(s);
      v.detail = "re-wrapping the root key under the new key version: " + s.message();
    }
  }
  if (options_.metrics != nullptr) options_.metrics->KeyChecked(v.reason, started);
  Apply(v);
}

void KeyMonitor::Apply(const Verdict& v) {
  int64_t now = Now();
  std::optional<EncryptionStatus> flipped;
  {
    std::lock_guard<std::mutex> guard(mu_);
    ++checks_;
    EncryptionStatus before = status_;
    if (v.access == crypto::KeyAccess::kGranted) {
      status_.accessible = true;
      status_.reason.clear();
      status_.detail.clear();
      status_.last_good_ms = now;
      if (!before.accessible || !before.reason.empty()) status_.since_ms = now;
    } else {
      // Unreachable: keep serving with the cached keys for the grace period, counted from the
      // first check that found the vault gone, and say so.
      bool unreachable = v.access == crypto::KeyAccess::kUnreachable;
      if (unreachable && before.accessible && before.reason.empty()) grace_since_ms_ = now;
      bool grace = unreachable && before.accessible &&
                   now - grace_since_ms_ < options_.grace.count();
      status_.accessible = grace;
      if (before.accessible != status_.accessible || before.reason != v.reason) status_.since_ms = now;
      status_.reason = v.reason;
      status_.detail = v.detail;
    }
    status_.key_id = keys_.wrapped_root().key_id;
    if (v.purge_protected) {
      if (before.purge_protected && !*v.purge_protected) {
        LogLine("keys", "warning: the customer-managed key " + options_.key_uri +
                            " has no purge protection: one purge would destroy this hub's data for good");
      }
      status_.purge_protected = *v.purge_protected;
    }
    if (before.accessible != status_.accessible) flipped = status_;
  }
  // Lock before anyone hears of it: nothing decrypts from here on. (Also when it was already
  // Inaccessible: whatever unlocked the keys meanwhile does not outrank the verdict.)
  if (!accessible() && !keys_.locked()) keys_.Lock();
  if (flipped && on_change_) on_change_(*flipped);
}

}  // namespace coffre::hub
