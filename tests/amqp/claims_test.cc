#include "amqp/claims.h"

#include <gtest/gtest.h>

#include "common/clock.h"
#include "common/encoding.h"
#include "crypto/hmac.h"
#include "fakes/fake_key_provider.h"
#include "hub/access_policies.h"
#include "hub/device_auth.h"
#include "hub/registry.h"
#include "hub/sas_token.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"

namespace coffre::amqp {
namespace {

using testing::StatusIs;

constexpr int64_t kNow = 1'800'000'000;

class ClaimsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kv_ = std::move(storage::RocksKvStore::Open(dir_.path() / "meta").value());
    keys_ = std::move(hub::HubKeys::Open(*kv_, provider_).value());
    registry_ = std::make_unique<hub::Registry>(*kv_, *keys_, clock_);
    policies_ = std::move(hub::AccessPolicies::Open(*kv_, *keys_, {"localhost"}, clock_).value());
    devices_ = std::make_unique<hub::DeviceAuthenticator>(*registry_, *policies_,
                                                          std::vector<std::string>{"localhost"}, clock_);
    verifier_ = std::make_unique<TokenVerifier>(*policies_, devices_.get(),
                                                std::vector<std::string>{"localhost"}, clock_);
  }

  // As @azure/event-hubs signs: the key's text is the HMAC key, sr the url-encoded audience.
  std::string EventHubsToken(const std::string& policy, const std::string& key_text,
                             const std::string& audience, int64_t expiry) {
    std::string sr = PercentEncode(audience);
    auto key = std::move(crypto::SecretBytes::CopyOf(AsBytes(key_text)).value());
    Bytes mac = *crypto::HmacSha256(key, AsBytes(sr + "\n" + std::to_string(expiry)));
    return "SharedAccessSignature sr=" + sr + "&sig=" + PercentEncode(Base64Encode(mac)) +
           "&se=" + std::to_string(expiry) + "&skn=" + policy;
  }
  // As the IoT SDKs sign: the base64-decoded key.
  std::string IotToken(const std::string& policy, const std::string& key_b64,
                       const std::string& resource, int64_t expiry) {
    auto key = std::move(crypto::SecretBytes::CopyOf(*Base64Decode(key_b64)).value());
    return *hub::MakeSasToken(resource, key, expiry, policy);
  }

  ManualClock clock_{ManualClock::WallTime(std::chrono::seconds(kNow))};
  testing::TempDir dir_;
  testing::FakeKeyProvider provider_;
  std::unique_ptr<storage::RocksKvStore> kv_;
  std::unique_ptr<hub::HubKeys> keys_;
  std::unique_ptr<hub::Registry> registry_;
  std::unique_ptr<hub::AccessPolicies> policies_;
  std::unique_ptr<hub::DeviceAuthenticator> devices_;
  std::unique_ptr<TokenVerifier> verifier_;
};

TEST_F(ClaimsTest, EventHubsStyleTokensSignWithTheKeyText) {
  hub::AccessPolicy service = *policies_->Get("service");
  std::string audience = "sb://localhost:5671/localhost/ConsumerGroups/$Default/Partitions/0";
  COFFRE_ASSERT_OK_AND_ASSIGN(
      Claim claim, verifier_->Verify(EventHubsToken("service", service.primary_key, audience, kNow + 3600)));
  EXPECT_EQ(claim.path, (std::vector<std::string>{"localhost", "ConsumerGroups", "$Default", "Partitions", "0"}));
  EXPECT_TRUE(claim.case_insensitive);
  EXPECT_EQ(claim.expiry, kNow + 3600);
  EXPECT_EQ(claim.key_name, "service");
  // The secondary key signs too.
  COFFRE_EXPECT_OK(verifier_->Verify(EventHubsToken("service", service.secondary_key, audience, kNow + 60)).status());
  // Signed IoT-style (decoded key) it is refused: the conventions are not interchangeable.
  EXPECT_THAT(verifier_->Verify(IotToken("service", service.primary_key, "sb://localhost/localhost", kNow + 60)).status(),
              StatusIs(StatusCode::kUnauthenticated));
}

TEST_F(ClaimsTest, RefusesWrongKeysExpiredTokensForeignHostsAndPoliciesWithoutServiceConnect) {
  hub::AccessPolicy service = *policies_->Get("service");
  std::string audience = "sb://localhost/localhost";
  EXPECT_THAT(verifier_->Verify(EventHubsToken("service", "d3JvbmcgIGtleQ==", audience, kNow + 60)).status(),
              StatusIs(StatusCode::kUnauthenticated));
  EXPECT_THAT(verifier_->Verify(EventHubsToken("service", service.primary_key, audience, kNow - 3600)).status(),
              StatusIs(StatusCode::kUnauthenticated));
  EXPECT_THAT(verifier_->Verify(EventHubsToken("service", service.primary_key, "sb://evil.example/localhost",
                                               kNow + 60)).status(),
              StatusIs(StatusCode::kUnauthenticated));
  EXPECT_THAT(verifier_->Verify(EventHubsToken("nosuch", service.primary_key, audience, kNow + 60)).status(),
              StatusIs(StatusCode::kUnauthenticated));
  hub::AccessPolicy registry_read = *policies_->Get("registryRead");
  EXPECT_THAT(verifier_->Verify(EventHubsToken("registryRead", registry_read.primary_key, audience, kNow + 60)).status(),
              StatusIs(StatusCode::kPermissionDenied));
  EXPECT_THAT(verifier_->Verify("not a token").status(), StatusIs(StatusCode::kUnauthenticated));
  EXPECT_THAT(verifier_->Verify("").status(), StatusIs(StatusCode::kUnauthenticated));
}

TEST_F(ClaimsTest, IotStyleServiceAndDeviceTokens) {
  hub::AccessPolicy owner = *policies_->Get("iothubowner");
  COFFRE_ASSERT_OK_AND_ASSIGN(Claim hubwide,
                              verifier_->Verify(IotToken("iothubowner", owner.primary_key, "localhost", kNow + 60)));
  EXPECT_TRUE(hubwide.path.empty());
  EXPECT_NE(hubwide.rights & hub::kServiceConnect, 0u);
  COFFRE_ASSERT_OK_AND_ASSIGN(
      Claim events, verifier_->Verify(IotToken("iothubowner", owner.primary_key, "localhost/messages/events", kNow + 60)));
  EXPECT_EQ(events.path, (std::vector<std::string>{"messages", "events"}));

  hub::DeviceIdentity d;
  d.device_id = "dev-01";
  hub::DeviceIdentity device = *registry_->Create(d);
  auto key = std::move(crypto::SecretBytes::CopyOf(*Base64Decode(device.primary_key)).value());
  std::string token = *hub::MakeSasToken("localhost/devices/dev-01", key, kNow + 60);
  COFFRE_ASSERT_OK_AND_ASSIGN(Claim claim, verifier_->Verify(token));
  EXPECT_EQ(claim.device_id, "dev-01");
  EXPECT_EQ(claim.rights, hub::kDeviceConnect);
  EXPECT_EQ(claim.path, (std::vector<std::string>{"devices", "dev-01"}));
  std::string other = *hub::MakeSasToken("localhost/devices/dev-02", key, kNow + 60);
  EXPECT_THAT(verifier_->Verify(other).status(), StatusIs(StatusCode::kUnauthenticated));
}

TEST(ClaimSetTest, GrantsByWholeSegmentPrefixRightsAndExpiry) {
  Claim eh{{"Hub"}, true, hub::kServiceConnect, 100, {}, {}, "service"};
  ClaimNeed receiver{{"hub", "ConsumerGroups", "$default", "Partitions", "0"}, hub::kServiceConnect};
  EXPECT_TRUE(Grants(eh, receiver, 99));
  EXPECT_FALSE(Grants(eh, receiver, 100));  // expired
  EXPECT_FALSE(Grants(eh, {{"hub2"}, hub::kServiceConnect}, 99));
  EXPECT_FALSE(Grants(eh, {{"hub"}, hub::kRegistryWrite}, 99));
  Claim device{{"devices", "Dev"}, false, hub::kDeviceConnect, 100, "Dev", {}, ""};
  EXPECT_TRUE(Grants(device, {{"devices", "Dev", "messages", "events"}, hub::kDeviceConnect}, 0));
  EXPECT_FALSE(Grants(device, {{"devices", "dev", "messages", "events"}, hub::kDeviceConnect}, 0));

  ClaimSet set;
  set.Add(eh);
  Claim renewed = eh;
  renewed.expiry = 200;
  set.Add(renewed);  // a renewal replaces, not piles up
  EXPECT_EQ(set.size(), 1u);
  EXPECT_TRUE(set.Grants(receiver, 150));
  for (int i = 0; i < 200; ++i) set.Add({{"x" + std::to_string(i)}, false, 0, 1000 + i, {}, {}, ""});
  EXPECT_EQ(set.size(), ClaimSet::kMaxClaims);
}

TEST(ParseAudienceTest, SchemePortAndPath) {
  auto a = ParseAudience("sb://Host:5671/hub/ConsumerGroups/$Default/");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "Host");
  EXPECT_EQ(a->path, (std::vector<std::string>{"hub", "ConsumerGroups", "$Default"}));
  a = ParseAudience("localhost");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->path.empty());
  EXPECT_FALSE(ParseAudience("sb://host/a//b"));
  EXPECT_FALSE(ParseAudience("sb:///a"));
}

}  // namespace
}  // namespace coffre::amqp
