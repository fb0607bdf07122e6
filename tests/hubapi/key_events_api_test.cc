// POST /$coffre/keyevents as the HTTPS server calls it: a signed event wakes the monitor and
// nothing else; a forged, stale or unsigned one is refused.
#include "hubapi/key_events_api.h"

#include <gtest/gtest.h>

#include <thread>

#include "common/clock.h"
#include "common/files.h"
#include "crypto/webhook_signature.h"
#include "fakes/fake_key_provider.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"

namespace coffre::hubapi {
namespace {

constexpr int64_t kNow = 1'800'000'000;
constexpr std::string_view kSecret = "cwh1.hub-secret";
constexpr std::string_view kBody = R"([{"eventType":"Coffre.KeyVault.KeyEnabled"}])";

class KeyEventsApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kv_ = std::move(storage::RocksKvStore::Open(dir_.path() / "meta").value());
    keys_ = std::move(hub::HubKeys::Open(*kv_, provider_).value());
    COFFRE_ASSERT_OK(WriteFileDurably(dir_.path() / "secret", AsBytes(std::string(kSecret) + "\n")));
    hub::EncryptionSettings settings;
    settings.key_events_secret_file = (dir_.path() / "secret").string();
    config_ = std::move(hub::EncryptionConfig::Load(*kv_, settings).value());
    hub::KeyMonitorOptions o;
    o.interval = std::chrono::seconds(30);  // only a wake can bring a check in this test's time
    monitor_ = std::make_unique<hub::KeyMonitor>(*keys_, provider_, o, nullptr);
    monitor_->Start();
    WaitForChecks(1);
    api_ = std::make_unique<KeyEventsApi>(*monitor_, *config_, clock_);
  }
  void TearDown() override { monitor_->Stop(); }

  void WaitForChecks(uint64_t n) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (monitor_->checks() < n && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }

  net::HttpRequest Event(std::string_view secret, int64_t t, std::string_view body = kBody) {
    net::HttpRequest r;
    r.method = "POST";
    r.target = "/$coffre/keyevents";
    r.body = std::string(body);
    auto key = crypto::SecretBytes::CopyOf(AsBytes(secret)).value();
    r.headers.emplace_back("Coffre-Signature", crypto::SignWebhook(key, t, kBody).value());
    return r;
  }

  ManualClock clock_{ManualClock::WallTime(std::chrono::seconds(kNow))};
  testing::TempDir dir_;
  testing::FakeKeyProvider provider_;
  std::unique_ptr<storage::RocksKvStore> kv_;
  std::unique_ptr<hub::HubKeys> keys_;
  std::unique_ptr<hub::EncryptionConfig> config_;
  std::unique_ptr<hub::KeyMonitor> monitor_;
  std::unique_ptr<KeyEventsApi> api_;
};

TEST_F(KeyEventsApiTest, ASignedEventWakesTheMonitorWhoseOwnCheckDecides) {
  provider_.set_state(crypto::KeyState::kDisabled);
  auto response = api_->Handle(Event(kSecret, kNow));
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200u);
  WaitForChecks(2);
  EXPECT_FALSE(monitor_->status().accessible) << "the check found the key disabled";

  // "KeyEnabled", genuinely signed, while the key is in fact still disabled: still locked.
  uint64_t before = monitor_->checks();
  EXPECT_EQ(api_->Handle(Event(kSecret, kNow))->status, 200u);
  WaitForChecks(before + 1);
  EXPECT_FALSE(monitor_->status().accessible);
  EXPECT_TRUE(keys_->locked());

  provider_.set_state(crypto::KeyState::kEnabled);
  before = monitor_->checks();
  EXPECT_EQ(api_->Handle(Event(kSecret, kNow))->status, 200u);
  WaitForChecks(before + 1);
  EXPECT_TRUE(monitor_->status().accessible);
}

TEST_F(KeyEventsApiTest, ForgedStaleOrUnsignedEventsAreRefusedAndWakeNothing) {
  uint64_t before = monitor_->checks();
  std::vector<net::HttpRequest> bad = {Event("cwh1.guess", kNow), Event(kSecret, kNow - 301),
                                       Event(kSecret, kNow, R"([{"eventType":"edited"}])")};
  bad.push_back(Event(kSecret, kNow));
  bad.back().headers.clear();
  for (const net::HttpRequest& r : bad) {
    auto response = api_->Handle(r);
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 401u);
    EXPECT_EQ(response->Header("iothub-errorcode"), "IotHubUnauthorizedAccess");
  }
  std::this_thread::sleep_for(hub::KeyMonitor::kMinWakeGap * 3);
  EXPECT_EQ(monitor_->checks(), before);
}

TEST_F(KeyEventsApiTest, OtherPathsAndMethodsAreNotEvents) {
  net::HttpRequest get = Event(kSecret, kNow);
  get.method = "GET";
  EXPECT_EQ(api_->Handle(get)->status, 405u);
  net::HttpRequest other = Event(kSecret, kNow);
  other.target = "/$coffre/encryption";
  EXPECT_FALSE(api_->Handle(other).has_value());
  net::HttpRequest encoded = Event(kSecret, kNow);
  encoded.target = "/%24coffre/keyevents?x=1";
  EXPECT_EQ(api_->Handle(encoded)->status, 200u);
}

TEST_F(KeyEventsApiTest, WithoutASecretEveryEventIsRefused) {
  hub::EncryptionSettings none = config_->Get();
  none.key_events_secret_file.clear();
  COFFRE_ASSERT_OK(config_->Set(none));
  EXPECT_EQ(api_->Handle(Event(kSecret, kNow))->status, 401u);
}

}  // namespace
}  // namespace coffre::hubapi
