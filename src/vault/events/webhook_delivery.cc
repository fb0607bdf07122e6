#include "vault/events/webhook_delivery.h"

#include <algorithm>

#include "common/log.h"
#include "crypto/random.h"
#include "crypto/webhook_signature.h"
#include "net/https_client.h"
#include "vault/events/event_grid_event.h"

namespace coffre::vault {
namespace {

// A receiver that answers these will answer them again: retrying only delays the log line.
bool Retryable(unsigned http_status) {
  return http_status != 400 && http_status != 401 && http_status != 403 && http_status != 413;
}

// One signed POST; the HTTP status, or the transport's error.
Result<unsigned> Post(const EventSubscriptions::Live& live, const std::string& body,
                      std::chrono::milliseconds timeout, const Clock& clock,
                      std::unique_ptr<net::HttpsClient>& client) {
  COFFRE_ASSIGN_OR_RETURN(WebhookEndpoint endpoint, ParseWebhookEndpoint(live.subscription.endpoint));
  if (!client) {
    net::HttpsClientOptions options;
    options.origin = endpoint.origin;
    options.ca_pem = live.subscription.ca_pem;
    options.timeout = timeout;
    COFFRE_ASSIGN_OR_RETURN(client, net::HttpsClient::Create(std::move(options)));
  }
  // Signed at each attempt, so a retry carries a fresh timestamp.
  COFFRE_ASSIGN_OR_RETURN(std::string signature,
                          crypto::SignWebhook(*live.secret, clock.NowSeconds(), body));
  net::HttpHeaders headers = {{"Content-Type", "application/json; charset=utf-8"},
                              {"aeg-event-type", "Notification"},
                              {std::string(crypto::kWebhookSignatureHeader), signature}};
  COFFRE_ASSIGN_OR_RETURN(net::HttpResponse response,
                          client->Send("POST", endpoint.target, headers, body));
  return response.status;
}

}  // namespace

WebhookDelivery::WebhookDelivery(EventSubscriptions& subscriptions, WebhookDeliveryOptions options)
    : subscriptions_(subscriptions), options_(options) {}

WebhookDelivery::~WebhookDelivery() { Stop(); }

void WebhookDelivery::SetVaultOrigin(std::string origin) {
  std::lock_guard<std::mutex> guard(mu_);
  origin_ = std::move(origin);
}

WebhookDelivery::Counters WebhookDelivery::counters() const {
  std::lock_guard<std::mutex> guard(mu_);
  return counters_;
}

void WebhookDelivery::Publish(const KeyEvent& event) {
  std::vector<std::string> wanted = subscriptions_.Matching(event.type);
  std::lock_guard<std::mutex> guard(mu_);
  if (stopping_) return;
  RetireLanesLocked();
  if (wanted.empty()) return;
  Result<std::string> id = crypto::RandomUuid();
  if (!id.has_value()) {
    LogLine("events", "dropped a " + event.type + " event: " + id.error().message());
    return;
  }
  Pending item{std::make_shared<const std::string>(EventGridBody(event, origin_, *id)), *id,
               event.type, std::chrono::steady_clock::now()};
  for (const std::string& subscription_id : wanted) {
    std::unique_ptr<Lane>& lane = lanes_[subscription_id];
    if (!lane) {
      lane = std::make_unique<Lane>();
      lane->subscription_id = subscription_id;
      lane->thread = std::thread([this, l = lane.get()] { RunLane(*l); });
    }
    if (lane->queue.size() >= std::max<size_t>(options_.max_queue, 1)) {
      // The front may be in flight: drop the oldest one waiting behind it, else this one.
      const Pending& victim = lane->queue.size() > 1 ? lane->queue[1] : item;
      LogLine("events", "dropped event " + victim.event_id + " (" + victim.type +
                            ") for subscription " + subscription_id + ": its queue is full");
      ++counters_.dropped;
      if (lane->queue.size() == 1) continue;
      lane->queue.erase(lane->queue.begin() + 1);
    }
    lane->queue.push_back(item);
    lane->wake.notify_one();
  }
}

void WebhookDelivery::RetireLanesLocked() {
  for (auto it = lanes_.begin(); it != lanes_.end();) {
    Lane& lane = *it->second;
    if (lane.finished) {
      lane.thread.join();  // it has returned, or is about to: never waits for a POST
      it = lanes_.erase(it);
      continue;
    }
    if (!lane.retire && !subscriptions_.Contains(lane.subscription_id)) {
      lane.retire = true;
      lane.wake.notify_one();
    }
    ++it;
  }
}

void WebhookDelivery::Stop() {
  std::map<std::string, std::unique_ptr<Lane>> lanes;
  {
    std::lock_guard<std::mutex> guard(mu_);
    stopping_ = true;
    for (auto& [id, lane] : lanes_) lane->wake.notify_one();
    lanes.swap(lanes_);
  }
  for (auto& [id, lane] : lanes) {
    if (lane->thread.joinable()) lane->thread.join();
  }
}

void WebhookDelivery::RunLane(Lane& lane) {
  std::unique_ptr<net::HttpsClient> client;  // kept alive between events
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    lane.wake.wait(lock, [&] { return stopping_ || lane.retire || !lane.queue.empty(); });
    if (stopping_ || lane.retire) break;
    Pending item = lane.queue.front();
    lock.unlock();
    bool delivered = DeliverWithRetries(lane, item, client);
    lock.lock();
    ++(delivered ? counters_.delivered : counters_.dropped);
    lane.queue.pop_front();
  }
  if (!lane.queue.empty() && !lane.retire) {
    LogLine("events", "stopping: dropped " + std::to_string(lane.queue.size()) +
                          " undelivered event(s) for subscription " + lane.subscription_id);
    counters_.dropped += lane.queue.size();
  }
  lane.queue.clear();
  lane.finished = true;
}

bool WebhookDelivery::DeliverWithRetries(Lane& lane, const Pending& item,
                                         std::unique_ptr<net::HttpsClient>& client) {
  std::chrono::milliseconds delay = options_.first_retry;
  for (int attempt = 1;; ++attempt) {
    std::optional<EventSubscriptions::Live> live = subscriptions_.Find(lane.subscription_id);
    if (!live) return false;  // deleted meanwhile
    Result<unsigned> status = Post(*live, *item.body, options_.timeout,
                                   options_.clock != nullptr ? *options_.clock : SystemClock(), client);
    if (status.has_value() && *status >= 200 && *status < 300) return true;
    bool retryable = !status.has_value() || Retryable(*status);
    std::string why = status.has_value() ? "HTTP " + std::to_string(*status) : status.error().message();
    if (!status.has_value()) client.reset();  // reconnect next time
    auto next = std::chrono::steady_clock::now() + delay;
    std::unique_lock<std::mutex> lock(mu_);
    ++counters_.failed_attempts;
    if (!retryable || attempt >= options_.max_attempts || next - item.published > options_.max_age) {
      LogLine("events", "dropped event " + item.event_id + " (" + item.type + ") for subscription " +
                            lane.subscription_id + " after " + std::to_string(attempt) +
                            " attempt(s): " + why);
      return false;
    }
    lane.wake.wait_until(lock, next, [&] { return stopping_ || lane.retire; });
    if (stopping_ || lane.retire) return false;
    delay = std::min(delay * 2, options_.max_retry);
  }
}

}  // namespace coffre::vault
