#pragma once
// WebhookDelivery: the KeyEventSink that POSTs each event to every subscription that wants it,
// in the Event Grid schema (event_grid_event.h), signed with the subscription's secret
// (crypto/webhook_signature.h). Publish() only queues: one delivery thread per subscription
// sends its events in order, retrying a failed POST (network error, timeout, 404, 408, 429,
// 5xx) with exponential backoff, bounded in attempts and in time; 400, 401, 403 and 413 are not
// retried. An event that cannot be delivered is dropped with a log line. Nothing is persisted:
// events queued when the vault stops are lost (receivers treat events as cues, docs/VAULT.md).
// Thread-safe.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/clock.h"
#include "vault/events/event_subscriptions.h"
#include "vault/keys/key_events.h"

namespace coffre::net {
class HttpsClient;
}

namespace coffre::vault {

struct WebhookDeliveryOptions {
  int max_attempts = 8;
  std::chrono::milliseconds first_retry{250};  // doubled after each failed attempt
  std::chrono::milliseconds max_retry{std::chrono::seconds(30)};
  std::chrono::milliseconds max_age{std::chrono::minutes(5)};  // no attempt after this
  std::chrono::milliseconds timeout{5000};                      // per POST
  size_t max_queue = 1000;  // per subscription; past it the oldest waiting event is dropped
  // The signatures' timestamps; null: the system clock. Retries wait in real (steady) time.
  const Clock* clock = nullptr;
};

class WebhookDelivery : public KeyEventSink {
 public:
  // subscriptions must outlive this object.
  explicit WebhookDelivery(EventSubscriptions& subscriptions, WebhookDeliveryOptions options = {});
  ~WebhookDelivery() override;  // Stop()

  // The vault's public origin, for key ids, VaultName and topic; events published before it is
  // set carry the previous one.
  void SetVaultOrigin(std::string origin);

  void Publish(const KeyEvent& event) override;

  // Drops what is queued (logged) and joins the delivery threads; a POST in flight ends
  // within `timeout`. Publish() does nothing afterwards.
  void Stop();

  struct Counters {
    uint64_t delivered = 0;
    uint64_t failed_attempts = 0;
    uint64_t dropped = 0;
  };
  Counters counters() const;

 private:
  struct Pending {
    std::shared_ptr<const std::string> body;
    std::string event_id, type;
    std::chrono::steady_clock::time_point published;
  };
  struct Lane {
    std::string subscription_id;
    std::deque<Pending> queue;  // guarded by mu_; the front is in flight
    std::condition_variable wake;
    bool retire = false;    // the subscription is gone; guarded by mu_
    bool finished = false;  // the thread has returned from Run; guarded by mu_
    std::thread thread;
  };
  void RunLane(Lane& lane);
  // false: dropped. client: the lane's connection, made on first use.
  bool DeliverWithRetries(Lane& lane, const Pending& item,
                          std::unique_ptr<net::HttpsClient>& client);
  void RetireLanesLocked();

  EventSubscriptions& subscriptions_;
  WebhookDeliveryOptions options_;
  mutable std::mutex mu_;
  std::string origin_;                                   // guarded by mu_
  std::map<std::string, std::unique_ptr<Lane>> lanes_;   // guarded by mu_
  bool stopping_ = false;                                // guarded by mu_
  Counters counters_;                                    // guarded by mu_
};

}  // namespace coffre::vault
