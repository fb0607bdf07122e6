#pragma once
// RotationScheduler: applies every live key's rotation policy (rotation_policy.h) on its own
// thread, once per `period` of real time, against the vault's clock. For a key's latest version:
// Rotate when the policy's Rotate trigger is due (timeAfterCreate after its `created`,
// timeBeforeExpiry before its `exp`); else publish Microsoft.KeyVault.KeyExpired once its `exp`
// has passed, or KeyNearExpiry once the Notify trigger is due. Each event goes out once per
// version, across restarts (KeyVault::MarkPublished records it before it is published), and a
// rotation names the version it replaces, so it never doubles a manual one.
// Thread-safe; Stop() or the destructor joins the thread.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "common/clock.h"
#include "common/result.h"
#include "vault/keys/key_events.h"
#include "vault/keys/key_vault.h"

namespace coffre::vault {

class RotationScheduler {
 public:
  // vault, clock (the vault's: VaultClock) and sink, if not null, must outlive the scheduler.
  RotationScheduler(KeyVault& vault, KeyEventSink* sink, const Clock& clock,
                    std::chrono::milliseconds period);
  ~RotationScheduler();

  void Start();  // starts the thread; its first pass runs at once
  void Stop();   // idempotent

  // One pass over every key (what the thread runs each period). Every key is tried; the first
  // error is returned, and every error is logged.
  Status RunOnce();

 private:
  Status Evaluate(const KeyPolicyState& key, int64_t now);
  Status PublishOnce(std::string_view type, const KeyVersion& version, int64_t now);
  void Loop();

  KeyVault& vault_;
  KeyEventSink* sink_;
  const Clock& clock_;
  std::chrono::milliseconds period_;
  std::mutex run_mu_;  // one pass at a time
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace coffre::vault
