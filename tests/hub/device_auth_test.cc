#include "hub/device_auth.h"

#include <gtest/gtest.h>

#include "common/encoding.h"
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
    registry_ = std::make_unique<Registry>(*kv_, *keys_, [] { return kNow * 1000; });
    DeviceIdentity d;
    d.device_id = "dev-01";
    device_ = std::move(registry_->Create(d).value());
    auth_ = std::make_unique<DeviceAuthenticator>(*registry_, std::vector<std::string>{"localhost", "127.0.0.1"},
                                                  [this] { return now_; });
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

  testing::TempDir dir_;
  testing::FakeKeyProvider provider_;
  std::unique_ptr<storage::RocksKvStore> kv_;
  std::unique_ptr<HubKeys> keys_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<DeviceAuthenticator> auth_;
  DeviceIdentity device_;
  int64_t now_ = kNow;
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

}  // namespace
}  // namespace coffre::hub
