// Cloud-to-device over REST called as the HTTPS server calls it (no sockets): the service sends,
// purges and reads feedback with a policy token; the device receives, completes, rejects and
// abandons with its own token. A real registry and sealed queues behind them.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "fakes/fake_key_provider.h"
#include "hub/sas_token.h"
#include "hubapi/c2d_device_api.h"
#include "hubapi/c2d_service_api.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"

namespace coffre::hubapi {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class C2dApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kv_ = std::move(storage::RocksKvStore::Open(dir_.path() / "meta").value());
    keys_ = std::move(hub::HubKeys::Open(*kv_, provider_).value());
    policies_ = std::move(hub::AccessPolicies::Open(*kv_, *keys_, {"localhost"}, clock_).value());
    registry_ = std::make_unique<hub::Registry>(*kv_, *keys_, clock_);
    auth_ = std::make_unique<hub::DeviceAuthenticator>(
        *registry_, std::vector<std::string>{"localhost"}, clock_);
    rows_ = std::make_unique<hub::SealedRows>(*kv_, *keys_);
    queues_ = std::make_unique<hub::C2dQueues>(*rows_, clock_);
    device_api_ = std::make_unique<C2dDeviceApi>(*auth_, *registry_, *queues_);
    service_api_ = std::make_unique<C2dServiceApi>(*registry_, *queues_, *policies_);
    for (const char* id : {"d1", "d2"}) {
      hub::DeviceIdentity d;
      d.device_id = id;
      keys_by_device_[id] = registry_->Create(d).value().primary_key;
    }
  }
  net::HttpRequest Service(const std::string& method, const std::string& target,
                           const std::string& body = "") {
    auto p = policies_->Get("service").value();
    auto key = crypto::SecretBytes::CopyOf(*Base64Decode(p.primary_key)).value();
    net::HttpRequest r{method, target + "?api-version=2021-04-12", {}, body, "127.0.0.1", ""};
    r.headers.emplace_back("Authorization",
                           *hub::MakeSasToken("localhost", key, clock_.NowSeconds() + 3600, "service"));
    return r;
  }
  net::HttpRequest Device(const std::string& device, const std::string& method, const std::string& target) {
    auto key = crypto::SecretBytes::CopyOf(*Base64Decode(keys_by_device_[device])).value();
    net::HttpRequest r{method, target, {}, "", "127.0.0.1", ""};
    r.headers.emplace_back("Authorization", *hub::MakeSasToken("localhost/devices/" + device, key,
                                                               clock_.NowSeconds() + 3600));
    return r;
  }
  net::HttpResponse Send(const std::string& device, const std::string& body,
                         std::vector<std::pair<std::string, std::string>> headers = {}) {
    net::HttpRequest r = Service("POST", "/devices/" + device + "/messages/devicebound", body);
    for (auto& h : headers) r.headers.push_back(h);
    return *service_api_->Handle(r);
  }
  net::HttpResponse Receive(const std::string& device) {
    return *device_api_->Handle(
        Device(device, "GET", "/devices/" + device + "/messages/devicebound?api-version=2021-04-12"));
  }
  net::HttpResponse Settle(const std::string& device, const std::string& method, std::string suffix) {
    suffix += suffix.find('?') == std::string::npos ? "?" : "&";
    suffix += "api-version=2021-04-12";
    return *device_api_->Handle(Device(
        device, method, "/devices/" + device + "/messages/devicebound/" + suffix));
  }
  static std::string Lock(const net::HttpResponse& r) {
    std::string etag(r.Header("ETag"));
    return etag.size() >= 2 ? etag.substr(1, etag.size() - 2) : "";
  }

  testing::TempDir dir_;
  testing::FakeKeyProvider provider_;
  ManualClock clock_;
  std::unique_ptr<storage::RocksKvStore> kv_;
  std::unique_ptr<hub::HubKeys> keys_;
  std::unique_ptr<hub::AccessPolicies> policies_;
  std::unique_ptr<hub::Registry> registry_;
  std::unique_ptr<hub::DeviceAuthenticator> auth_;
  std::unique_ptr<hub::SealedRows> rows_;
  std::unique_ptr<hub::C2dQueues> queues_;
  std::unique_ptr<C2dDeviceApi> device_api_;
  std::unique_ptr<C2dServiceApi> service_api_;
  std::map<std::string, std::string> keys_by_device_;
};

TEST_F(C2dApiTest, ADeviceReceivesWithPropertiesAndCompletes) {
  ASSERT_EQ(Send("d1", "hello", {{"iothub-messageid", "m1"}, {"iothub-app-color", "blue"},
                                 {"iothub-ack", "full"}, {"Content-Type", "text/plain"}}).status,
            204u);
  net::HttpResponse got = Receive("d1");
  ASSERT_EQ(got.status, 200u) << got.body;
  EXPECT_EQ(got.body, "hello");
  EXPECT_EQ(got.Header("iothub-messageid"), "m1");
  EXPECT_EQ(got.Header("iothub-app-color"), "blue");
  EXPECT_EQ(got.Header("iothub-deliverycount"), "1");
  EXPECT_EQ(got.Header("iothub-to"), "/devices/d1/messages/devicebound");
  EXPECT_EQ(got.content_type, "text/plain");
  EXPECT_EQ(Receive("d1").status, 204u);  // locked: nothing else waits
  EXPECT_EQ(Settle("d1", "DELETE", Lock(got)).status, 204u);
  net::HttpResponse again = Settle("d1", "DELETE", Lock(got));
  EXPECT_EQ(again.status, 412u);
  EXPECT_NE(again.body.find("DeviceMessageLockLost"), std::string::npos);

  net::HttpResponse feedback = *service_api_->Handle(Service("GET", "/messages/serviceBound/feedback"));
  ASSERT_EQ(feedback.status, 200u);
  json records = json::parse(feedback.body);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["originalMessageId"], "m1");
  EXPECT_EQ(records[0]["statusCode"], "Success");
  std::string token(feedback.Header("ETag"));
  ASSERT_EQ(token, "\"1\"");
  // The token is taken bare, quoted as the ETag is, or percent-encoded as a client escapes it.
  for (const char* form : {"1", "\"1\"", "%221%22"}) {
    EXPECT_EQ(service_api_->Handle(Service("DELETE", std::string("/messages/serviceBound/feedback/") + form))->status, 204u) << form;
  }
  EXPECT_EQ(service_api_->Handle(Service("GET", "/messages/serviceBound/feedback"))->status, 204u);
}

TEST_F(C2dApiTest, RejectAbandonAndOtherDevices) {
  ASSERT_EQ(Send("d1", "a").status, 204u);
  net::HttpResponse first = Receive("d1");
  // Another device can neither see nor settle d1's message.
  EXPECT_EQ(Receive("d2").status, 204u);
  EXPECT_EQ(Settle("d2", "DELETE", Lock(first)).status, 412u);
  net::HttpRequest forged = Device("d2", "DELETE", "/devices/d1/messages/devicebound/" + Lock(first));
  EXPECT_EQ(device_api_->Handle(forged)->status, 401u);
  EXPECT_EQ(Settle("d1", "POST", Lock(first) + "/abandon").status, 204u);
  net::HttpResponse second = Receive("d1");
  EXPECT_EQ(second.Header("iothub-deliverycount"), "2");
  EXPECT_EQ(Settle("d1", "DELETE", Lock(second) + "?reject").status, 204u);
  EXPECT_EQ(Receive("d1").status, 204u);
}

TEST_F(C2dApiTest, ADeviceCreatedAgainDoesNotReceiveItsPredecessorsMessages) {
  ASSERT_EQ(Send("d1", "for the old d1").status, 204u);
  ASSERT_TRUE(registry_->Delete("d1", "*").ok());
  hub::DeviceIdentity d;
  d.device_id = "d1";
  keys_by_device_["d1"] = registry_->Create(d).value().primary_key;
  EXPECT_EQ(Receive("d1").status, 204u);
  ASSERT_EQ(Send("d1", "for the new d1").status, 204u);
  net::HttpResponse got = Receive("d1");
  ASSERT_EQ(got.status, 200u);
  EXPECT_EQ(got.body, "for the new d1");
}

TEST_F(C2dApiTest, AFullQueueExpiryPurgeAndBadInput) {
  for (int i = 0; i < 50; ++i) ASSERT_EQ(Send("d1", "x").status, 204u);
  net::HttpResponse full = Send("d1", "51st");
  EXPECT_EQ(full.status, 403u);
  EXPECT_NE(full.body.find("DeviceMaximumQueueDepthExceeded"), std::string::npos);
  EXPECT_EQ(Send("d2", "fine").status, 204u);  // others unaffected
  net::HttpResponse purged = *service_api_->Handle(Service("DELETE", "/devices/d1/commands"));
  ASSERT_EQ(purged.status, 200u);
  EXPECT_EQ(json::parse(purged.body)["totalMessagesPurged"], 50);

  ASSERT_EQ(Send("d1", "soon gone", {{"iothub-expiry", "2027-01-15T08:00:05Z"}}).status, 204u);
  clock_.Advance(6s);
  EXPECT_EQ(Receive("d1").status, 204u);  // expired: never delivered

  EXPECT_EQ(Send("nobody", "x").status, 404u);
  EXPECT_EQ(Send("d1", std::string(64 * 1024 + 1, 'b')).status, 413u);
  EXPECT_EQ(Send("d1", "x", {{"iothub-ack", "sometimes"}}).status, 400u);
  EXPECT_EQ(Send("d1", "x", {{"iothub-expiry", "tomorrow"}}).status, 400u);
  EXPECT_EQ(Send("d1", "x", {{"iothub-app-evil", "a\r\nSet-Cookie: x"}}).status, 400u);
  EXPECT_EQ(Send("d1", "x", {{"iothub-messageid", std::string(129, 'm')}}).status, 400u);
  EXPECT_EQ(Settle("d1", "DELETE", "no-such-lock").status, 412u);
  EXPECT_EQ(Settle("d1", "PUT", "no-such-lock").status, 405u);
  EXPECT_EQ(service_api_->Handle(Service("DELETE", "/messages/serviceBound/feedback/abc"))->status, 400u);
  // A batch never handed out: nobody read those records, none is acknowledged.
  net::HttpResponse unread = *service_api_->Handle(Service("DELETE", "/messages/serviceBound/feedback/99"));
  EXPECT_EQ(unread.status, 412u);
  EXPECT_NE(unread.body.find("ErrorCode:PreconditionFailed"), std::string::npos) << unread.body;
  // A device token cannot send, and the service's token cannot receive.
  net::HttpRequest device_sends = Device("d1", "POST", "/devices/d1/messages/devicebound");
  EXPECT_EQ(service_api_->Handle(device_sends)->status, 401u);
  net::HttpRequest service_receives = Service("GET", "/devices/d1/messages/devicebound");
  EXPECT_EQ(device_api_->Handle(service_receives)->status, 401u);
}

}  // namespace
}  // namespace coffre::hubapi
