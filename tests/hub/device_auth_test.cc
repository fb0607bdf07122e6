#include "hub/device_auth.h"

#include <gtest/gtest.h>

#include "common/clock.h"
#include "common/encoding.h"
#include "crypto/hmac.h"
#include "fakes/fake_key_provider.h"
#include "hub/sas_token.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"

namespace coffre::hub {
namespace {

using testing::StatusIs;

constexpr int64_t kNow = 1'800'000'000;
constexpr std::string_view kUser =
    "localhost/dev-01/?api-version=2021-04-12&DeviceClientType=azure-iot-device%2F1.18.4";

class DeviceAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kv_ = std::move(storage::RocksKvStore::Open(dir_.path() / "meta").value());
    keys_ = std::move(HubKeys::Open(*kv_, provider_).value());
    registry_ = std::make_unique<Registry>(*kv_, *keys_, clock_);
    DeviceIdentity d;
    d.device_id = "dev-01";
    device_ = std::move(registry_->Create(d).value());
    auth_ = std::make_unique<DeviceAuthenticator>(*registry_, std::vector<std::string>{"localhost", "127.0.0.1"},
                                                  clock_);
  }
  std::string Token(const std::string& key_b64, std::string_view resource = "localhost/devices/dev-01",
                    int64_t expiry = kNow + 3600) {
    Bytes raw = *Base64Decode(key_b64);
    auto key = std::move(crypto::SecretBytes::CopyOf(raw).value());
    return *MakeSasToken(resource, key, expiry);
  }
  Status Connect(std::string_view client, std::string_view user, std::optional<std::string> password) {
    std::optional<std::string_view> pw;
    if (password) pw = *password;
    return auth_->AuthenticateMqtt({client, user, pw}).status();
  }

  ManualClock clock_{ManualClock::WallTime(std::chrono::seconds(kNow))};
  testing::TempDir dir_;
  testing::FakeKeyProvider provider_;
  std::unique_ptr<storage::RocksKvStore> kv_;
  std::unique_ptr<HubKeys> keys_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<DeviceAuthenticator> auth_;
  DeviceIdentity device_;
};

TEST_F(DeviceAuthTest, TheSdksConnectWithEitherKeyIsAccepted) {
  COFFRE_ASSERT_OK_AND_ASSIGN(AuthenticatedDevice a,
                              auth_->AuthenticateMqtt({"dev-01", kUser, Token(device_.primary_key)}));
  EXPECT_EQ(a.device_id, "dev-01");
  EXPECT_EQ(a.expires_at, kNow + 3600);
  COFFRE_EXPECT_OK(Connect("dev-01", kUser, Token(device_.secondary_key)));
  COFFRE_EXPECT_OK(Connect("dev-01", "LOCALHOST/dev-01/?api-version=2021-04-12",
                           Token(device_.primary_key, "LocalHost/devices/dev-01")));
}

TEST_F(DeviceAuthTest, RefusalsMapToTheRightConnackCodes) {
  std::string good = Token(device_.primary_key);
  // 4: malformed user name or no password.
  EXPECT_THAT(Connect("dev-01", "localhost/dev-01", good), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(Connect("dev-01", kUser, std::nullopt), StatusIs(StatusCode::kInvalidArgument));
  // 2: the client id is not the device of the user name.
  EXPECT_THAT(Connect("dev-02", kUser, good), StatusIs(StatusCode::kFailedPrecondition));
  // 5: everything about the token or the device.
  EXPECT_THAT(Connect("dev-01", "evil.example/dev-01/?api-version=1", good),
              StatusIs(StatusCode::kUnauthenticated));
  EXPECT_THAT(Connect("dev-01", kUser, Token(device_.primary_key, "localhost/devices/dev-02")),
              StatusIs(StatusCode::kUnauthenticated));
  EXPECT_THAT(Connect("dev-01", kUser, "not a token"), StatusIs(StatusCode::kUnauthenticated));
  Bytes other(32, std::byte{1});
  EXPECT_THAT(Connect("dev-01", kUser, Token(Base64Encode(other))), StatusIs(StatusCode::kUnauthenticated));
  EXPECT_THAT(Connect("dev-01", kUser, Token(device_.primary_key, "localhost/devices/dev-01", kNow - 301)),
              StatusIs(StatusCode::kUnauthenticated));
}

TEST_F(DeviceAuthTest, UnknownDisabledAndDeletedDevicesAreRefused) {
  std::string good = Token(device_.primary_key);
  DeviceIdentity disabled = device_;
  disabled.status = DeviceStatus::kDisabled;
  COFFRE_ASSERT_OK(registry_->Update(disabled, "*").status());
  EXPECT_THAT(Connect("dev-01", kUser, good), StatusIs(StatusCode::kUnauthenticated));
  COFFRE_ASSERT_OK(registry_->Delete("dev-01", "*"));
  EXPECT_THAT(Connect("dev-01", kUser, good), StatusIs(StatusCode::kUnauthenticated));
}

TEST(MqttUsernameTest, ParsesDeviceAndModuleUserNames) {
  MqttUsername d = *ParseMqttUsername(kUser);
  EXPECT_EQ(d.host, "localhost");
  EXPECT_EQ(d.device_id, "dev-01");
  EXPECT_FALSE(d.module_id.has_value());
  EXPECT_EQ(d.query.substr(0, 23), "api-version=2021-04-12&");
  MqttUsername m = *ParseMqttUsername("h/d/m/?api-version=2021-04-12");
  EXPECT_EQ(*m.module_id, "m");
  for (std::string_view bad : {"", "h", "h/?", "h//?x", "h/d/m/x/?y", "h/d"}) {
    EXPECT_FALSE(ParseMqttUsername(bad).has_value()) << bad;
  }
}

// Issue 12, finding 8: a module connects only as itself, with its own key.
class ModuleAuthTest : public DeviceAuthTest {
 protected:
  void SetUp() override {
    DeviceAuthTest::SetUp();
    ModuleIdentity m;
    m.device_id = "dev-01";
    m.module_id = "mod1";
    module_ = std::move(registry_->CreateModule(m).value());
  }
  static constexpr std::string_view kModuleUser = "localhost/dev-01/mod1/?api-version=2021-04-12";
  ModuleIdentity module_;
};

TEST_F(ModuleAuthTest, AModuleConnectsWithItsOwnKeysOnly) {
  COFFRE_ASSERT_OK_AND_ASSIGN(
      AuthenticatedDevice a,
      auth_->AuthenticateMqtt({"dev-01/mod1", kModuleUser,
                               Token(module_.primary_key, "localhost/devices/dev-01/modules/mod1")}));
  EXPECT_EQ(a.device_id, "dev-01");
  EXPECT_EQ(*a.module_id, "mod1");
  COFFRE_EXPECT_OK(Connect("dev-01/mod1", kModuleUser,
                           Token(module_.secondary_key, "localhost/devices/dev-01/modules/mod1")));
  // The device's own key does not open its module's session, nor a module's key the device's.
  EXPECT_THAT(Connect("dev-01/mod1", kModuleUser,
                      Token(device_.primary_key, "localhost/devices/dev-01/modules/mod1")),
              StatusIs(StatusCode::kUnauthenticated));
  EXPECT_THAT(Connect("dev-01", kUser, Token(module_.primary_key)), StatusIs(StatusCode::kUnauthenticated));
  // A token for the device is not one for its module, and the other way round.
  EXPECT_THAT(Connect("dev-01/mod1", kModuleUser, Token(module_.primary_key)),
              StatusIs(StatusCode::kUnauthenticated));
  EXPECT_THAT(Connect("dev-01", kUser, Token(module_.primary_key, "localhost/devices/dev-01/modules/mod1")),
              StatusIs(StatusCode::kUnauthenticated));
  // HTTPS: the same rules.
  COFFRE_EXPECT_OK(auth_->AuthenticateToken("dev-01", "mod1",
                                            Token(module_.primary_key, "localhost/devices/dev-01/modules/mod1"))
                       .status());
  EXPECT_THAT(auth_->AuthenticateToken("dev-01", "mod1",
                                       Token(device_.primary_key, "localhost/devices/dev-01/modules/mod1"))
                  .status(),
              StatusIs(StatusCode::kUnauthenticated));
}

TEST_F(ModuleAuthTest, UnregisteredDeletedOrRekeyedModulesAndDisabledDevicesAreRefused) {
  // Never registered: the device's key used to open it (issue 12's reproduction).
  EXPECT_THAT(Connect("dev-01/mod2", "localhost/dev-01/mod2/?api-version=2021-04-12",
                      Token(device_.primary_key, "localhost/devices/dev-01/modules/mod2")),
              StatusIs(StatusCode::kUnauthenticated));
  std::string good = Token(module_.primary_key, "localhost/devices/dev-01/modules/mod1");
  ModuleIdentity rekeyed = module_;
  rekeyed.primary_key = Base64Encode(Bytes(32, std::byte{9}));
  COFFRE_ASSERT_OK(registry_->UpdateModule(rekeyed, "*").status());
  EXPECT_THAT(Connect("dev-01/mod1", kModuleUser, good), StatusIs(StatusCode::kUnauthenticated));
  rekeyed.primary_key = module_.primary_key;
  COFFRE_ASSERT_OK(registry_->UpdateModule(rekeyed, "*").status());
  COFFRE_ASSERT_OK(Connect("dev-01/mod1", kModuleUser, good));
  DeviceIdentity disabled = device_;
  disabled.status = DeviceStatus::kDisabled;
  COFFRE_ASSERT_OK(registry_->Update(disabled, "*").status());
  EXPECT_THAT(Connect("dev-01/mod1", kModuleUser, good), StatusIs(StatusCode::kUnauthenticated));
  disabled.status = DeviceStatus::kEnabled;
  COFFRE_ASSERT_OK(registry_->Update(disabled, "*").status());
  COFFRE_ASSERT_OK(Connect("dev-01/mod1", kModuleUser, good));
  COFFRE_ASSERT_OK(registry_->DeleteModule("dev-01", "mod1", "*"));
  EXPECT_THAT(Connect("dev-01/mod1", kModuleUser, good), StatusIs(StatusCode::kUnauthenticated));
}

// Issue 12, finding 6: a DeviceConnect policy's token connects a device its sr covers.
class PolicyDeviceAuthTest : public DeviceAuthTest {
 protected:
  void SetUp() override {
    DeviceAuthTest::SetUp();
    policies_ = std::move(AccessPolicies::Open(*kv_, *keys_, {"localhost"}, clock_).value());
    auth_ = std::make_unique<DeviceAuthenticator>(*registry_, *policies_, std::vector<std::string>{"localhost"},
                                                  clock_);
  }
  std::string PolicyToken(const std::string& policy, std::string_view resource) {
    AccessPolicy p = *policies_->Get(policy);
    Bytes raw = *Base64Decode(p.primary_key);
    auto key = std::move(crypto::SecretBytes::CopyOf(raw).value());
    // As azure-iot-device signs with SharedAccessKeyName: sr encoded, skn set.
    std::string token = *MakeSasToken(resource, key, kNow + 3600);
    std::string sr = token.substr(token.find("sr="), token.find('&') - token.find("sr="));
    Bytes mac = *crypto::HmacSha256(key, AsBytes(sr.substr(3) + "\n" + std::to_string(kNow + 3600)));
    return "SharedAccessSignature " + sr + "&sig=" + PercentEncode(Base64Encode(mac)) + "&skn=" + policy +
           "&se=" + std::to_string(kNow + 3600);
  }
  std::unique_ptr<AccessPolicies> policies_;
};

TEST_F(PolicyDeviceAuthTest, DeviceConnectPoliciesConnectDevicesTheirSrCovers) {
  COFFRE_ASSERT_OK_AND_ASSIGN(AuthenticatedDevice a,
                              auth_->AuthenticateMqtt({"dev-01", kUser, PolicyToken("iothubowner", "localhost/devices/dev-01")}));
  EXPECT_EQ(a.device_id, "dev-01");
  EXPECT_EQ(a.expires_at, kNow + 3600);
  COFFRE_EXPECT_OK(Connect("dev-01", kUser, PolicyToken("device", "localhost/devices/dev-01")));
  COFFRE_EXPECT_OK(Connect("dev-01", kUser, PolicyToken("device", "localhost")));
  COFFRE_EXPECT_OK(auth_->AuthenticateToken("dev-01", std::nullopt, PolicyToken("iothubowner", "localhost"))
                       .status());
  // Without DeviceConnect, out of its sr, for a device that does not exist or is disabled: no.
  for (const char* policy : {"service", "registryRead", "registryReadWrite"}) {
    EXPECT_THAT(Connect("dev-01", kUser, PolicyToken(policy, "localhost/devices/dev-01")),
                StatusIs(StatusCode::kUnauthenticated)) << policy;
  }
  EXPECT_THAT(Connect("dev-01", kUser, PolicyToken("iothubowner", "localhost/devices/dev-02")),
              StatusIs(StatusCode::kUnauthenticated));
  EXPECT_THAT(Connect("dev-02", "localhost/dev-02/?api-version=2021-04-12",
                      PolicyToken("iothubowner", "localhost/devices/dev-02")),
              StatusIs(StatusCode::kUnauthenticated));
  EXPECT_THAT(Connect("dev-01/m", "localhost/dev-01/m/?api-version=2021-04-12",
                      PolicyToken("iothubowner", "localhost/devices/dev-01")),
              StatusIs(StatusCode::kUnauthenticated));  // no such module
  DeviceIdentity disabled = device_;
  disabled.status = DeviceStatus::kDisabled;
  COFFRE_ASSERT_OK(registry_->Update(disabled, "*").status());
  EXPECT_THAT(Connect("dev-01", kUser, PolicyToken("iothubowner", "localhost/devices/dev-01")),
              StatusIs(StatusCode::kUnauthenticated));
}

TEST_F(DeviceAuthTest, PolicyTokensAreRefusedWithoutPolicies) {
  auto policies = std::move(AccessPolicies::Open(*kv_, *keys_, {"localhost"}, clock_).value());
  AccessPolicy owner = *policies->Get("iothubowner");
  Bytes raw = *Base64Decode(owner.primary_key);
  auto key = std::move(crypto::SecretBytes::CopyOf(raw).value());
  std::string token = *MakeSasToken("localhost", key, kNow + 3600, "iothubowner");
  EXPECT_THAT(Connect("dev-01", kUser, token), StatusIs(StatusCode::kUnauthenticated));
}

}  // namespace
}  // namespace coffre::hub
