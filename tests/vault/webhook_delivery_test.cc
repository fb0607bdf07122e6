#include "vault/events/webhook_delivery.h"

#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "common/clock.h"
#include "crypto/webhook_signature.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"
#include "vault/webhook_receiver.h"

namespace coffre::vault {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using testing::WebhookReceiver;

constexpr int64_t kEventTime = 1'800'000'000;

class WebhookDeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kv_ = std::move(storage::RocksKvStore::Open(dir_.path() / "db").value());
    store_ = std::move(
        SealedStore::Open(*kv_, std::move(crypto::SecretBytes::Random(32).value())).value());
    subscriptions_ = std::move(EventSubscriptions::Open(*store_, clock_).value());
  }

  std::unique_ptr<WebhookDelivery> Delivery(int max_attempts = 4) {
    WebhookDeliveryOptions o;
    o.max_attempts = max_attempts;
    o.first_retry = milliseconds(50);
    o.max_retry = milliseconds(400);
    o.timeout = milliseconds(3000);
    auto d = std::make_unique<WebhookDelivery>(*subscriptions_, o);
    d->SetVaultOrigin("https://localhost:8443");
    return d;
  }

  // Subscribes the receiver; returns the secret.
  crypto::SecretBytes Subscribe(std::vector<std::string> types = {}) {
    auto created = subscriptions_->Create(receiver_.url("/hook?code=1"), types, receiver_.ca_pem());
    EXPECT_TRUE(created.has_value()) << created.status();
    id_ = created->subscription.id;
    return std::move(created->secret);
  }

  static KeyEvent Event(std::string_view type, std::string name = "k1", std::string version = "v1") {
    return KeyEvent{std::string(type), std::move(name), std::move(version), 1'700'000'000,
                    std::nullopt, kEventTime};
  }

  // Polls `done` for at most 5 s: the counters move after the receiver has answered.
  static bool Eventually(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(5));
    }
    return done();
  }

  static std::string EventId(const WebhookReceiver::Received& r) {
    json body = json::parse(r.request.body, nullptr, false);
    return body.is_array() && !body.empty() ? body[0].value("id", "") : "";
  }

  testing::TempDir dir_;
  ManualClock clock_{Clock::WallTime(std::chrono::seconds(kEventTime))};
  std::unique_ptr<storage::RocksKvStore> kv_;
  std::unique_ptr<SealedStore> store_;
  std::unique_ptr<EventSubscriptions> subscriptions_;
  WebhookReceiver receiver_;
  std::string id_;
};

TEST_F(WebhookDeliveryTest, DeliversOneSignedEventGridEventWellUnderASecond) {
  crypto::SecretBytes secret = Subscribe();
  auto delivery = Delivery();
  auto published = std::chrono::steady_clock::now();
  delivery->Publish(Event(event_type::kKeyNewVersionCreated));
  auto got = receiver_.WaitFor(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_LT(got[0].at - published, milliseconds(1000));
  const net::HttpRequest& r = got[0].request;
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/hook?code=1");
  EXPECT_EQ(r.Header("Content-Type"), "application/json; charset=utf-8");
  EXPECT_EQ(r.Header("aeg-event-type"), "Notification");
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  COFFRE_EXPECT_OK(crypto::VerifyWebhook(secret, r.Header("Coffre-Signature"), r.body, now));

  json body = json::parse(r.body);
  ASSERT_TRUE(body.is_array());
  ASSERT_EQ(body.size(), 1u);
  const json& e = body[0];
  EXPECT_TRUE(std::regex_match(e["id"].get<std::string>(),
                               std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")));
  EXPECT_EQ(e["topic"], "/coffre/vaults/localhost:8443");
  EXPECT_EQ(e["subject"], "k1");
  EXPECT_EQ(e["eventType"], "Microsoft.KeyVault.KeyNewVersionCreated");
  EXPECT_EQ(e["eventTime"], "2027-01-15T08:00:00.000Z");
  EXPECT_EQ(e["dataVersion"], "1");
  EXPECT_EQ(e["metadataVersion"], "1");
  EXPECT_EQ(e["data"], (json{{"Id", "https://localhost:8443/keys/k1/v1"},
                             {"VaultName", "localhost:8443"},
                             {"ObjectType", "Key"},
                             {"ObjectName", "k1"},
                             {"Version", "v1"},
                             {"NBF", 1'700'000'000},
                             {"EXP", nullptr}}));
  EXPECT_TRUE(Eventually([&] { return delivery->counters().delivered == 1; }));
}

TEST_F(WebhookDeliveryTest, AVaultEventNamesTheVault) {
  Subscribe();
  auto delivery = Delivery();
  KeyEvent changed;
  changed.type = std::string(event_type::kVaultAccessPolicyChanged);
  changed.time = kEventTime;
  delivery->Publish(changed);
  auto got = receiver_.WaitFor(1);
  ASSERT_EQ(got.size(), 1u);
  json e = json::parse(got[0].request.body)[0];
  EXPECT_EQ(e["subject"], "localhost:8443");
  EXPECT_EQ(e["data"]["ObjectType"], "Vault");
  EXPECT_EQ(e["data"]["Id"], "https://localhost:8443/");
  EXPECT_EQ(e["data"]["Version"], nullptr);
}

TEST_F(WebhookDeliveryTest, RetriesWithExponentialBackoffUntilDelivered) {
  crypto::SecretBytes secret = Subscribe();
  receiver_.QueueStatuses({503, 500, 429});
  auto delivery = Delivery(/*max_attempts=*/4);
  delivery->Publish(Event(event_type::kKeyDisabled));
  auto got = receiver_.WaitFor(4);
  ASSERT_EQ(got.size(), 4u);
  for (const auto& r : got) EXPECT_EQ(EventId(r), EventId(got[0])) << "the same event each time";
  // 50, 100, 200 ms between attempts (each at least that; the POST itself adds a little).
  EXPECT_GE(got[1].at - got[0].at, milliseconds(50));
  EXPECT_GE(got[2].at - got[1].at, milliseconds(100));
  EXPECT_GE(got[3].at - got[2].at, milliseconds(200));
  // Each attempt is signed afresh, and verifies.
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  COFFRE_EXPECT_OK(crypto::VerifyWebhook(secret, got[3].request.Header("Coffre-Signature"),
                                         got[3].request.body, now));
  EXPECT_TRUE(Eventually([&] { return delivery->counters().delivered == 1; }));
  EXPECT_EQ(delivery->counters().failed_attempts, 3u);
}

TEST_F(WebhookDeliveryTest, DropsAnEventAfterMaxAttemptsAndDeliversTheNextInOrder) {
  Subscribe();
  receiver_.QueueStatuses({500, 502, 503});
  auto delivery = Delivery(/*max_attempts=*/3);
  delivery->Publish(Event(event_type::kKeyDisabled));
  delivery->Publish(Event(event_type::kKeyEnabled));
  auto got = receiver_.WaitFor(4);
  ASSERT_EQ(got.size(), 4u);
  std::string first = EventId(got[0]);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(EventId(got[i]), first);
  EXPECT_NE(EventId(got[3]), first);
  EXPECT_EQ(json::parse(got[3].request.body)[0]["eventType"], "Coffre.KeyVault.KeyEnabled");
  EXPECT_EQ(receiver_.WaitFor(5, milliseconds(300)).size(), 4u) << "no fourth attempt";
  EXPECT_TRUE(Eventually([&] { return delivery->counters().dropped == 1; }));
}

TEST_F(WebhookDeliveryTest, ARefusalThatWillNotChangeIsNotRetried) {
  Subscribe();
  receiver_.QueueStatuses({401});
  auto delivery = Delivery(/*max_attempts=*/4);
  delivery->Publish(Event(event_type::kKeyDeleted));
  delivery->Publish(Event(event_type::kKeyRecovered));
  auto got = receiver_.WaitFor(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(json::parse(got[1].request.body)[0]["eventType"], "Coffre.KeyVault.KeyRecovered");
}

TEST_F(WebhookDeliveryTest, PublishDoesNotWaitForASlowReceiverAndOrderIsKept) {
  Subscribe();
  receiver_.set_delay(milliseconds(300));
  auto delivery = Delivery();
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) {
    delivery->Publish(Event(event_type::kKeyNewVersionCreated, "k1", "v" + std::to_string(i)));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(100));
  auto got = receiver_.WaitFor(5);
  ASSERT_EQ(got.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(json::parse(got[i].request.body)[0]["data"]["Version"], "v" + std::to_string(i));
  }
}

TEST_F(WebhookDeliveryTest, AFilterSelectsTypesAndADeletedSubscriptionGetsNothingMore) {
  Subscribe({"KeyDisabled"});
  auto delivery = Delivery();
  delivery->Publish(Event(event_type::kKeyNewVersionCreated));
  delivery->Publish(Event(event_type::kKeyDisabled));
  auto got = receiver_.WaitFor(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(json::parse(got[0].request.body)[0]["eventType"], "Coffre.KeyVault.KeyDisabled");

  COFFRE_ASSERT_OK(subscriptions_->Delete(id_));
  delivery->Publish(Event(event_type::kKeyDisabled));
  EXPECT_EQ(receiver_.WaitFor(2, milliseconds(300)).size(), 1u);
}

TEST_F(WebhookDeliveryTest, AnUnreachableEndpointIsRetriedThenDropped) {
  auto created = subscriptions_->Create("https://localhost:1/hook", {}, receiver_.ca_pem());
  ASSERT_TRUE(created.has_value()) << created.status();
  auto delivery = Delivery(/*max_attempts=*/3);
  delivery->Publish(Event(event_type::kKeyPurged));
  EXPECT_TRUE(Eventually([&] { return delivery->counters().dropped == 1; }));
  EXPECT_EQ(delivery->counters().failed_attempts, 3u);
}

}  // namespace
}  // namespace coffre::vault
