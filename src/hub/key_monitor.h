#pragma once
// KeyMonitor: makes the hub obey its customer-managed key. Every `interval` (default 500 ms) it
// asks the vault for what the hub needs, with the hub's own identity: get (the key's state and
// current version), unwrapKey (of the hub's own wrapped root key) and wrapKey (of a random
// probe), so a revoked permission shows as surely as a disabled key. Then:
//   revoked (disabled, deleted, expired unless expired_is_inaccessible is off, not yet valid, or
//     any of get/wrapKey/unwrapKey denied): Inaccessible at once.
//   unreachable (network error, timeout, 5xx): the keys keep serving for `grace` from the first
//     check that found the vault unreachable, then Inaccessible (the last check of the period
//     ends right at that moment).
//   all answered: Accessible (the root key is unwrapped again if it was locked); a newer key
//     version (a versionless key URI) re-wraps the root key under it (HubKeys::Rewrap).
// Turning Inaccessible locks HubKeys (every key zeroized) and then calls on_change, which the
// hub uses to close device connections. Wake() (a key event from the vault) only brings the next
// check forward: the verdict is always the check's own. Thread-safe; the checks run on the
// monitor's thread.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/clock.h"
#include "crypto/key_provider.h"
#include "hub/hub_keys.h"
#include "hub/hub_metrics.h"

namespace coffre::hub {

// How long one check's vault calls may take before the vault counts as unreachable
// (KeyCustody's checker), so a frozen vault cannot stall the checks past a grace period's end.
inline constexpr std::chrono::milliseconds kKeyCheckTimeout{250};

struct KeyMonitorOptions {
  std::string key_uri;  // as configured, for messages
  std::chrono::milliseconds interval{500};
  std::chrono::milliseconds grace{std::chrono::seconds(60)};  // for an unreachable vault
  bool expired_is_inaccessible = true;  // false: Key Vault's own semantics ("continue")
  const Clock* clock = &SystemClock();  // wall time; must outlive the monitor
  HubMetrics* metrics = nullptr;  // each check's result and time (null: none); must outlive it
};

struct EncryptionStatus {
  bool accessible = true;
  // Why not: KeyDisabled, KeyExpired, KeyNotYetValid, KeyDeleted, AccessDenied,
  // VaultUnreachable, KeyUnusable. While accessible but the vault is unreachable: the grace
  // period is running and `reason` is VaultUnreachable.
  std::string reason;
  std::string detail;       // the vault's answer, for people
  int64_t since_ms = 0;     // when the state (or the grace period) began
  int64_t last_good_ms = 0;  // the last check that fully succeeded
  std::string key_id;       // the versioned key that wraps the root key
  bool purge_protected = true;  // as the vault last said; false is logged as a warning
};

class KeyMonitor {
 public:
  using OnChange = std::function<void(const EncryptionStatus&)>;

  // keys and provider must outlive the monitor.
  KeyMonitor(HubKeys& keys, crypto::KeyProvider& provider, KeyMonitorOptions options,
             OnChange on_change);
  ~KeyMonitor();  // Stop()

  void Start();
  void Stop();
  // The key's URI for messages, after the key changed (KeyCustody::UseCustomerKey).
  void set_key_uri(std::string key_uri);
  // New interval, grace and expiry semantics, from the next check on.
  void Reconfigure(std::chrono::milliseconds interval, std::chrono::milliseconds grace,
                   bool expired_is_inaccessible);
  // One check, now, on the caller's thread (tests; Start's thread does the same).
  void CheckNow();
  // Asks the monitor's thread for a check now, without waiting for it: a check that starts after
  // this call. Wakes coalesce, and checks so started are at least kMinWakeGap apart, so a burst
  // of events costs the vault little. Does nothing before Start().
  void Wake();
  static constexpr std::chrono::milliseconds kMinWakeGap{50};
  // How far past a grace period's end its last check times out (timers fire late, never early).
  static constexpr std::chrono::milliseconds kGraceEndMargin{10};
  uint64_t checks() const;  // how many checks have run (tests)
  EncryptionStatus status() const;
  bool accessible() const;  // status().accessible without copying the rest

 private:
  struct Verdict {
    crypto::KeyAccess access = crypto::KeyAccess::kGranted;
    std::string reason, detail;
    std::string current_version;
    std::optional<bool> purge_protected;
  };
  Verdict Probe();
  void Apply(const Verdict& v);
  int64_t Now() const;

  HubKeys& keys_;
  crypto::KeyProvider& provider_;
  KeyMonitorOptions options_;  // key_uri, interval, grace, expired_is_inaccessible: mu_
  OnChange on_change_;
  mutable std::mutex mu_;
  EncryptionStatus status_;  // guarded by mu_
  int64_t grace_since_ms_ = 0;  // guarded by mu_
  std::mutex check_mu_;      // one check at a time
  std::condition_variable wake_;
  bool stopping_ = false;    // guarded by mu_
  bool woken_ = false;       // guarded by mu_
  uint64_t checks_ = 0;      // guarded by mu_
  std::thread thread_;
};

}  // namespace coffre::hub
