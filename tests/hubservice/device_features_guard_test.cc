// Issue 14's twins, direct methods and C2D through the whole hub (HubService in-process, real
// TLS, MQTT and HTTPS), from the attacker's and the operator's side: nothing of a twin or a C2D
// message in plaintext under the data directory; every new route and the MQTT topics refused
// while the customer key is disabled, back by themselves after; a revoked device's session and
// another device's credentials reach nothing; bad input answered as Azure answers it, with
// nothing lost and other devices unaffected.
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "fakes/fake_key_provider.h"
#include "file_scan.h"
#include "hub/sas_token.h"
#include "hubservice/hub_service.h"
#include "hubservice/test_hub_options.h"
#include "mqtt/iothub_topics.h"
#include "mqtt/server_fixture.h"
#include "net/certificates.h"
#include "net/tls_test_client.h"
#include "test_util.h"

namespace coffre::hubservice {
namespace {

using nlohmann::json;
using Response = boost::beast::http::response<boost::beast::http::string_body>;

constexpr std::string_view kApi = "api-version=2021-04-12";

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The error name of an IoT Hub error body ("ErrorCode:<name>;..."), or "" if none.
std::string ErrorName(const Response& r) {
  json j = json::parse(r.body(), nullptr, false);
  if (!j.is_object() || !j.contains("Message") || !j["Message"].is_string()) return "";
  std::string m = j["Message"].get<std::string>();
  if (!m.starts_with("ErrorCode:")) return "";
  return m.substr(10, m.find(';') - 10);
}

class DeviceFeaturesGuardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    certs_ = std::move(net::EnsureStackCertificates(dir_.path() / "tls", {}).value());
    HubOptions o = coffre::testing::TestHubOptions(dir_.path() / "hub", certs_);
    o.telemetry.partitions = 2;
    o.bootstrap_devices = {"dev-01", "dev-02"};
    o.encryption.key_uri = "https://vault.example/keys/fake";
    o.key_monitor_thread = false;  // the tests check (CheckNow)
    o.customer_keys = [this](const hub::EncryptionSettings&, std::chrono::milliseconds) {
      return Result<std::shared_ptr<crypto::KeyProvider>>(
          std::shared_ptr<crypto::KeyProvider>(&vault_, [](crypto::KeyProvider*) {}));
    };
    hub_ = std::move(HubService::Start(o).value());
    for (const char* id : {"dev-01", "dev-02"})
      keys_[id] = hub_->registry().Get(id).value().primary_key;
    for (const char* policy : {"iothubowner", "registryReadWrite", "device"}) {
      keys_[policy] = hub_->policies().Get(policy).value().primary_key;
    }
  }
  void TearDown() override { hub_.reset(); }

  std::string ServiceToken(const std::string& policy = "iothubowner") {
    auto key = crypto::SecretBytes::CopyOf(*Base64Decode(keys_.at(policy))).value();
    return *hub::MakeSasToken("localhost", key, Now() + 3600, policy);
  }
  std::string DeviceToken(const std::string& device) {
    auto key = crypto::SecretBytes::CopyOf(*Base64Decode(keys_.at(device))).value();
    return *hub::MakeSasToken("localhost/devices/" + device, key, Now() + 3600);
  }
  // One request on a new connection; `token` is the Authorization header.
  Response Call(const std::string& method, const std::string& path, const std::string& token,
                const std::string& body = "", const std::string& headers = "") {
    coffre::testing::TlsClient https(hub_->https_port(), certs_.ca_file);
    std::string target = path.find('?') == std::string::npos ? path + "?" + std::string(kApi)
                                                             : path + "&" + std::string(kApi);
    return https.Call(method, target, body, "Authorization: " + token + "\r\n" + headers);
  }
  Response Service(const std::string& method, const std::string& path, const std::string& body = "",
                   const std::string& headers = "") {
    return Call(method, path, ServiceToken(), body, headers);
  }
  Response Device(const std::string& method, const std::string& path,
                  const std::string& device = "dev-01") {
    return Call(method, path, DeviceToken(device));
  }
  Response SendC2d(const std::string& device, const std::string& body,
                   const std::string& headers = "") {
    return Service("POST", "/devices/" + device + "/messages/devicebound", body,
                   "Content-Type: text/plain\r\n" + headers);
  }

  // `device` connects over MQTT; true once CONNACK accepted it.
  bool Connect(mqtt::Client& client, const std::string& device = "dev-01") {
    std::string token = DeviceToken(device);
    std::string username = "localhost/" + device + "/?api-version=2021-04-12";
    mqtt::Connect c;
    c.keep_alive = 180;
    c.client_id = device;
    c.username = username;
    c.password = AsBytes(token);
    Bytes out;
    mqtt::EncodeConnect(out, c);
    if (!client.TrySend(out)) return false;
    auto connack = client.Receive();
    return connack && std::holds_alternative<mqtt::ConnAck>(*connack) &&
           std::get<mqtt::ConnAck>(*connack).code == mqtt::ConnectCode::kAccepted;
  }
  // SUBSCRIBE one filter; the granted code.
  static std::optional<uint8_t> Subscribe(mqtt::Client& client, const std::string& filter,
                                          uint8_t qos = 0) {
    mqtt::Subscribe s;
    s.packet_id = 1;
    s.filters = {{filter, qos}};
    Bytes out;
    mqtt::EncodeSubscribe(out, s);
    if (!client.TrySend(out)) return std::nullopt;
    auto ack = client.Receive();
    if (!ack || !std::holds_alternative<mqtt::SubAck>(*ack)) return std::nullopt;
    return std::get<mqtt::SubAck>(*ack).codes.at(0);
  }
  static bool Publish0(mqtt::Client& client, const std::string& topic, std::string_view body) {
    Bytes out;
    mqtt::EncodePublish(out, {false, 0, false, topic, 0, AsBytes(body)});
    return client.TrySend(out);
  }
  // The next PUBLISH (topic and body), skipping other packets; nullopt if the connection closed.
  static std::optional<std::pair<std::string, std::string>> NextPublish(
      mqtt::Client& client, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    for (;;) {
      auto p = client.Receive(timeout);
      if (!p) return std::nullopt;
      if (auto* pub = std::get_if<mqtt::Publish>(&*p)) {
        return std::make_pair(std::string(pub->topic), std::string(AsChars(pub->payload)));
      }
    }
  }
  // A twin request over MQTT and its answer (topic, body).
  static std::optional<std::pair<std::string, std::string>> TwinCall(mqtt::Client& client,
                                                                     const std::string& topic,
                                                                     std::string_view body) {
    if (!Publish0(client, topic, body)) return std::nullopt;
    return NextPublish(client);
  }
  bool CreateModule(const std::string& device, const std::string& module) {
    hub::ModuleIdentity m;
    m.device_id = device;
    m.module_id = module;
    return hub_->registry().CreateModule(m).has_value();
  }
  void Disable() {
    vault_.set_state(crypto::KeyState::kDisabled);
    hub_->monitor().CheckNow();
    ASSERT_FALSE(hub_->monitor().accessible());
  }
  void Enable() {
    vault_.set_state(crypto::KeyState::kEnabled);
    hub_->monitor().CheckNow();
    ASSERT_TRUE(hub_->monitor().accessible());
  }

  coffre::testing::TempDir dir_;
  coffre::testing::FakeKeyProvider vault_;
  net::StackCertificates certs_;
  std::unique_ptr<HubService> hub_;
  std::map<std::string, std::string> keys_;  // device or policy to its primary key, read at start
};

// Issue 14: "The raw data directory holds no twin value, tag or C2D body in plaintext".
TEST_F(DeviceFeaturesGuardTest, TheDataDirectoryHoldsNoTwinValueTagOrC2dMessageInPlaintext) {
  const std::string tag = "marker-tag-7f3a91", desired = "marker-desired-2c8e04",
                    reported = "marker-reported-9b1d66", body = "marker-c2d-body-4e7f13",
                    property = "marker-c2d-prop-a5c2d8", message_id = "marker-c2d-mid-61bb0f",
                    module_tag = "marker-module-tag-3d9e27";
  ASSERT_TRUE(CreateModule("dev-01", "m1"));
  // Tags and desired properties (device and module) through the service routes.
  json patch = {{"tags", {{"site", tag}}}, {"properties", {{"desired", {{"cfg", desired}}}}}};
  EXPECT_EQ(Service("PATCH", "/twins/dev-01", patch.dump(), "If-Match: \"*\"\r\n").result_int(),
            200u);
  EXPECT_EQ(Service("PATCH", "/twins/dev-01/modules/m1", json{{"tags", {{"t", module_tag}}}}.dump(),
                    "If-Match: \"*\"\r\n")
                .result_int(),
            200u);
  // Reported properties by the device over MQTT.
  {
    mqtt::Client device(hub_->mqtt_port(), certs_.ca_file);
    ASSERT_TRUE(Connect(device));
    ASSERT_EQ(Subscribe(device, "$iothub/twin/res/#"), 0);
    auto res = TwinCall(device, "$iothub/twin/PATCH/properties/reported/?$rid=1",
                        json{{"fw", reported}}.dump());
    ASSERT_TRUE(res);
    EXPECT_EQ(res->first, "$iothub/twin/res/204/?$rid=1&$version=2");
  }
  // Two C2D messages that ask for feedback: one completed (its feedback record stays), one
  // left waiting in the queue.
  std::string headers = "iothub-ack: full\r\niothub-app-secret: " + property + "\r\n";
  EXPECT_EQ(SendC2d("dev-01", body + "-1", headers + "iothub-messageid: " + message_id + "-1\r\n")
                .result_int(),
            204u);
  EXPECT_EQ(SendC2d("dev-01", body + "-2", headers + "iothub-messageid: " + message_id + "-2\r\n")
                .result_int(),
            204u);
  Response got = Device("GET", "/devices/dev-01/messages/deviceBound");
  ASSERT_EQ(got.result_int(), 200u);
  EXPECT_EQ(got.body(), body + "-1");
  std::string lock(got["ETag"]);
  lock = lock.substr(1, lock.size() - 2);
  EXPECT_EQ(Device("DELETE", "/devices/dev-01/messages/deviceBound/" + lock).result_int(), 204u);
  Response feedback = Service("GET", "/messages/serviceBound/feedback");
  ASSERT_EQ(feedback.result_int(), 200u);
  EXPECT_NE(feedback.body().find(message_id + "-1"), std::string::npos) << feedback.body();
  // And readable back while the hub runs: the markers did reach the store.
  Response twin = Service("GET", "/twins/dev-01");
  EXPECT_NE(twin.body().find(reported), std::string::npos);
  EXPECT_NE(twin.body().find(tag), std::string::npos);

  hub_->Stop();
  std::filesystem::path data = dir_.path() / "hub";
  // The scan reads what is there: a bootstrap file names the device in plaintext.
  EXPECT_FALSE(coffre::testing::FilesContaining(data, AsBytes(std::string_view("dev-01"))).empty());
  for (const std::string& marker :
       {tag, desired, reported, body, property, message_id, module_tag}) {
    EXPECT_EQ(coffre::testing::FilesContaining(data, AsBytes(std::string_view(marker))),
              std::vector<std::string>{})
        << marker;
  }
}

// Issue 14: "all of it refused while the hub is Inaccessible (MQTT twin/method topics included)
// and back by itself after".
TEST_F(DeviceFeaturesGuardTest,
       EveryNewRouteIsRefusedLikeTelemetryWhileInaccessibleAndServesAfter) {
  ASSERT_TRUE(CreateModule("dev-01", "m1"));
  ASSERT_EQ(SendC2d("dev-01", "queued").result_int(), 204u);
  Response locked = Device("GET", "/devices/dev-01/messages/deviceBound");
  ASSERT_EQ(locked.result_int(), 200u);
  std::string lock(locked["ETag"]);
  lock = lock.substr(1, lock.size() - 2);
  mqtt::Client session(hub_->mqtt_port(), certs_.ca_file);
  ASSERT_TRUE(Connect(session));
  ASSERT_EQ(Subscribe(session, "$iothub/twin/res/#"), 0);

  Disable();
  // The existing telemetry path's refusal is the yardstick.
  Response telemetry = Device("POST", "/devices/dev-01/messages/events");
  ASSERT_EQ(telemetry.result_int(), 403u) << telemetry.body();
  const std::string refusal = ErrorName(telemetry);
  EXPECT_EQ(refusal, "CustomerManagedKeyInaccessible");
  const std::string twin_patch = R"({"tags":{"a":1}})";
  const std::string method = R"({"methodName":"m","responseTimeoutInSeconds":5})";
  struct Case {
    std::string method, path, body;
    bool device;  // the device's token, else the service's
  };
  const std::vector<Case> cases = {
      {"GET", "/twins/dev-01", "", false},
      {"PATCH", "/twins/dev-01", twin_patch, false},
      {"PUT", "/twins/dev-01", twin_patch, false},
      {"GET", "/twins/dev-01/modules/m1", "", false},
      {"PATCH", "/twins/dev-01/modules/m1", twin_patch, false},
      {"PUT", "/twins/dev-01/modules/m1", twin_patch, false},
      {"POST", "/twins/dev-01/methods", method, false},
      {"POST", "/twins/dev-01/modules/m1/methods", method, false},
      {"POST", "/devices/query", R"({"query":"SELECT * FROM devices"})", false},
      {"POST", "/devices/dev-01/messages/devicebound", "body", false},
      {"DELETE", "/devices/dev-01/commands", "", false},
      {"GET", "/messages/serviceBound/feedback", "", false},
      {"DELETE", "/messages/serviceBound/feedback/1", "", false},
      {"GET", "/devices/dev-01/messages/deviceBound", "", true},
      {"DELETE", "/devices/dev-01/messages/deviceBound/" + lock, "", true},
      {"DELETE", "/devices/dev-01/messages/deviceBound/" + lock + "?reject", "", true},
      {"POST", "/devices/dev-01/messages/deviceBound/" + lock + "/abandon", "", true},
  };
  for (const Case& c : cases) {
    Response r = Call(c.method, c.path, c.device ? DeviceToken("dev-01") : ServiceToken(), c.body,
                      c.body.empty() ? "" : "Content-Type: application/json\r\n");
    EXPECT_EQ(r.result_int(), telemetry.result_int())
        << c.method << " " << c.path << ": " << r.body();
    EXPECT_EQ(ErrorName(r), refusal) << c.method << " " << c.path << ": " << r.body();
  }
  // MQTT: the open session is closed before it can use a twin topic, and a new one is refused.
  EXPECT_FALSE(NextPublish(session, std::chrono::seconds(10)).has_value());
  mqtt::Client refused(hub_->mqtt_port(), certs_.ca_file);
  EXPECT_FALSE(Connect(refused));

  Enable();
  // Everything serves again, by itself.
  EXPECT_EQ(Service("GET", "/twins/dev-01").result_int(), 200u);
  EXPECT_EQ(Service("PATCH", "/twins/dev-01", twin_patch, "If-Match: \"*\"\r\n").result_int(),
            200u);
  EXPECT_EQ(Service("GET", "/twins/dev-01/modules/m1").result_int(), 200u);
  EXPECT_EQ(Service("POST", "/devices/query", R"({"query":"SELECT * FROM devices"})").result_int(),
            200u);
  Response offline = Service("POST", "/twins/dev-01/methods", method);
  EXPECT_EQ(offline.result_int(), 404u);
  EXPECT_EQ(ErrorName(offline), "DeviceNotOnline");
  // The lock taken before is still held (60 s): complete it; the message is gone after.
  EXPECT_EQ(Device("DELETE", "/devices/dev-01/messages/deviceBound/" + lock).result_int(), 204u);
  EXPECT_EQ(SendC2d("dev-01", "after").result_int(), 204u);
  Response after = Device("GET", "/devices/dev-01/messages/deviceBound");
  EXPECT_EQ(after.result_int(), 200u);
  EXPECT_EQ(after.body(), "after");
  EXPECT_EQ(Service("DELETE", "/devices/dev-01/commands").result_int(), 200u);
  EXPECT_EQ(Service("GET", "/messages/serviceBound/feedback").result_int(), 204u);
  mqtt::Client again(hub_->mqtt_port(), certs_.ca_file);
  ASSERT_TRUE(Connect(again));
  ASSERT_EQ(Subscribe(again, "$iothub/twin/res/#"), 0);
  auto res = TwinCall(again, "$iothub/twin/GET/?$rid=9", " ");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->first, "$iothub/twin/res/200/?$rid=9");
}

// A disabled or deleted device's open session stops at once; another device's credentials read
// no twin and receive no C2D message of this one.
TEST_F(DeviceFeaturesGuardTest, RevokedOrForeignIdentitiesReachNoTwinMethodOrC2d) {
  // dev-02's SAS for dev-01's queue and locks: 401, and the message stays for dev-01.
  ASSERT_EQ(SendC2d("dev-01", "for dev-01 only").result_int(), 204u);
  Response foreign = Call("GET", "/devices/dev-01/messages/deviceBound", DeviceToken("dev-02"));
  EXPECT_EQ(foreign.result_int(), 401u) << foreign.body();
  EXPECT_EQ(ErrorName(foreign), "IotHubUnauthorizedAccess");
  Response mine = Device("GET", "/devices/dev-01/messages/deviceBound");
  ASSERT_EQ(mine.result_int(), 200u);
  std::string lock(mine["ETag"]);
  lock = lock.substr(1, lock.size() - 2);
  EXPECT_EQ(Call("DELETE", "/devices/dev-01/messages/deviceBound/" + lock, DeviceToken("dev-02"))
                .result_int(),
            401u);
  EXPECT_EQ(Call("POST", "/devices/dev-01/messages/deviceBound/" + lock + "/abandon",
                 DeviceToken("dev-02"))
                .result_int(),
            401u);
  // A device token is no service token: no twin read, no method call, no send.
  EXPECT_EQ(Call("GET", "/twins/dev-01", DeviceToken("dev-01")).result_int(), 401u);
  EXPECT_EQ(Call("POST", "/twins/dev-02/methods", DeviceToken("dev-01"), R"({"methodName":"m"})")
                .result_int(),
            401u);
  EXPECT_EQ(
      Call("POST", "/devices/dev-02/messages/devicebound", DeviceToken("dev-01"), "x").result_int(),
      401u);
  // Policies without ServiceConnect neither (registry rights, or DeviceConnect).
  for (const char* policy : {"registryReadWrite", "device"}) {
    EXPECT_EQ(Call("GET", "/twins/dev-01", ServiceToken(policy)).result_int(), 401u) << policy;
    EXPECT_EQ(Call("POST", "/twins/dev-01/methods", ServiceToken(policy), R"({"methodName":"m"})")
                  .result_int(),
              401u)
        << policy;
    EXPECT_EQ(Call("POST", "/devices/dev-01/messages/devicebound", ServiceToken(policy), "x")
                  .result_int(),
              401u)
        << policy;
    EXPECT_EQ(Call("GET", "/messages/serviceBound/feedback", ServiceToken(policy)).result_int(),
              401u)
        << policy;
  }
  // Over MQTT dev-02 cannot subscribe to dev-01's C2D topic.
  {
    mqtt::Client other(hub_->mqtt_port(), certs_.ca_file);
    ASSERT_TRUE(Connect(other, "dev-02"));
    EXPECT_EQ(Subscribe(other, "devices/dev-01/messages/devicebound/#", 1),
              mqtt::kSubscriptionFailure);
  }
  EXPECT_EQ(Device("DELETE", "/devices/dev-01/messages/deviceBound/" + lock).result_int(), 204u);

  // dev-02 subscribed to everything, then disabled: its session is closed, and nothing more
  // reaches it (no method, no C2D), and its HTTPS C2D calls are refused.
  mqtt::Client session(hub_->mqtt_port(), certs_.ca_file);
  ASSERT_TRUE(Connect(session, "dev-02"));
  ASSERT_EQ(Subscribe(session, "$iothub/twin/res/#"), 0);
  ASSERT_EQ(Subscribe(session, "$iothub/methods/POST/#"), 0);
  ASSERT_EQ(Subscribe(session, "devices/dev-02/messages/devicebound/#", 1), 1);
  hub::DeviceIdentity d = hub_->registry().Get("dev-02").value();
  d.status = hub::DeviceStatus::kDisabled;
  ASSERT_TRUE(hub_->registry().Update(d, "*").has_value());
  EXPECT_FALSE(NextPublish(session, std::chrono::seconds(10)).has_value()) << "must be closed";
  Response method = Service("POST", "/twins/dev-02/methods",
                            R"({"methodName":"m","responseTimeoutInSeconds":5})");
  EXPECT_EQ(method.result_int(), 404u) << method.body();
  EXPECT_EQ(ErrorName(method), "DeviceNotOnline");
  mqtt::Client disabled(hub_->mqtt_port(), certs_.ca_file);
  EXPECT_FALSE(Connect(disabled, "dev-02"));
  EXPECT_EQ(Device("GET", "/devices/dev-02/messages/deviceBound", "dev-02").result_int(), 401u);

  // Deleted: the same, and its queue and twin go with it.
  mqtt::Client gone(hub_->mqtt_port(), certs_.ca_file);
  ASSERT_TRUE(Connect(gone, "dev-01"));
  ASSERT_EQ(Subscribe(gone, "$iothub/twin/res/#"), 0);
  ASSERT_TRUE(hub_->registry().Delete("dev-01", "*").ok());
  EXPECT_FALSE(NextPublish(gone, std::chrono::seconds(10)).has_value()) << "must be closed";
  EXPECT_EQ(Device("GET", "/devices/dev-01/messages/deviceBound").result_int(), 401u);
  EXPECT_EQ(Service("GET", "/twins/dev-01").result_int(), 404u);
}

// A device deleted and created again under the same id is another device (Azure drops the old
// one's queue): it receives none of the messages sent to the old one, over HTTPS or MQTT.
TEST_F(DeviceFeaturesGuardTest, ADeviceCreatedAgainReceivesNothingSentToTheDeletedOne) {
  for (const std::string id : {"dev-01", "dev-02"}) {
    ASSERT_EQ(SendC2d(id, "for the old " + id).result_int(), 204u);
    ASSERT_TRUE(hub_->registry().Delete(id, "*").ok());
    hub::DeviceIdentity d;
    d.device_id = id;
    keys_[id] = hub_->registry().Create(d).value().primary_key;
    ASSERT_EQ(SendC2d(id, "for the new " + id).result_int(), 204u);
  }
  Response https = Device("GET", "/devices/dev-01/messages/deviceBound");
  ASSERT_EQ(https.result_int(), 200u);
  EXPECT_EQ(https.body(), "for the new dev-01");
  mqtt::Client device(hub_->mqtt_port(), certs_.ca_file);
  ASSERT_TRUE(Connect(device, "dev-02"));
  ASSERT_EQ(Subscribe(device, "devices/dev-02/messages/devicebound/#", 1), 1);
  auto got = NextPublish(device);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->second, "for the new dev-02");
}

// Issue 14: over MQTT "PUBACK completes; a session lost before PUBACK redelivers". The first
// session drops the message unacknowledged, the next gets it again and acknowledges it, and once
// the queue shows it gone a third session's first message is a new one, never the completed one.
TEST_F(DeviceFeaturesGuardTest, ASessionLostBeforePubackGetsItAgainAndAPubackCompletesIt) {
  const std::string topic = "devices/dev-01/messages/devicebound/#";
  ASSERT_EQ(SendC2d("dev-01", "redelivered-until-acked").result_int(), 204u);
  // The first delivery, lost with its session (no PUBACK).
  {
    mqtt::Client lost(hub_->mqtt_port(), certs_.ca_file);
    ASSERT_TRUE(Connect(lost));
    ASSERT_EQ(Subscribe(lost, topic, 1), 1);
    auto got = NextPublish(lost);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->second, "redelivered-until-acked");
  }
  // Delivered again to the next session, which acknowledges it.
  {
    mqtt::Client acked(hub_->mqtt_port(), certs_.ca_file);
    ASSERT_TRUE(Connect(acked));
    ASSERT_EQ(Subscribe(acked, topic, 1), 1);
    std::optional<mqtt::Packet> p;
    for (p = acked.Receive(); p && !std::holds_alternative<mqtt::Publish>(*p); p = acked.Receive()) {
    }
    ASSERT_TRUE(p);
    const auto& publish = std::get<mqtt::Publish>(*p);
    EXPECT_EQ(std::string(AsChars(publish.payload)), "redelivered-until-acked");
    ASSERT_EQ(publish.qos, 1);
    Bytes puback;
    mqtt::EncodePacketIdOnly(puback, {mqtt::PacketType::kPubAck, publish.packet_id});
    ASSERT_TRUE(acked.TrySend(puback));
    // Completed: the queue is empty (the count Azure shows), waited on, not slept for.
    auto queued = [&] {
      Response r = Service("GET", "/devices/dev-01");
      json j = json::parse(r.body(), nullptr, false);
      return j.is_object() && j.contains("cloudToDeviceMessageCount")
                 ? j["cloudToDeviceMessageCount"].get<int64_t>()
                 : -1;
    };
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (queued() != 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_EQ(queued(), 0);
  }
  // Never delivered again: a later session's first message is the next one sent.
  ASSERT_EQ(SendC2d("dev-01", "the-next-message").result_int(), 204u);
  mqtt::Client later(hub_->mqtt_port(), certs_.ca_file);
  ASSERT_TRUE(Connect(later));
  ASSERT_EQ(Subscribe(later, topic, 1), 1);
  auto got = NextPublish(later);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->second, "the-next-message");
}

// {"k":{"k":...{"k":1}}}, `depth` objects deep.
std::string Nested(int depth) {
  std::string out;
  for (int i = 0; i < depth; ++i) out += "{\"k\":";
  out += "1";
  for (int i = 0; i < depth; ++i) out += "}";
  return out;
}

// Bad input as Azure answers it; nothing lost, other devices unaffected.
TEST_F(DeviceFeaturesGuardTest, BadInputGetsAzuresAnswersAndLosesNothing) {
  mqtt::Client device(hub_->mqtt_port(), certs_.ca_file);
  ASSERT_TRUE(Connect(device));
  ASSERT_EQ(Subscribe(device, "$iothub/twin/res/#"), 0);
  auto ok = TwinCall(device, "$iothub/twin/PATCH/properties/reported/?$rid=1", R"({"kept":1})");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->first, "$iothub/twin/res/204/?$rid=1&$version=2");

  // Over MQTT: an oversize patch (40 KB, reported limit 32 KB), invalid JSON, not an object, a
  // key Azure refuses. Each gets an error the SDK reads (a JSON body with Azure's numeric code);
  // the connection stays and the twin is unchanged.
  struct Bad {
    std::string body;
    std::string topic_status;
  };
  const std::vector<Bad> bad = {
      {json{{"big", std::string(40 * 1024, 'x')}}.dump(), "400"},
      {"{\"unterminated\": ", "400"},
      {"[1,2,3]", "400"},
      {R"({"a.b":1})", "400"},
      {R"({"$x":1})", "400"},
      {"{\"bad\":\"\xff\xfe\"}", "400"},  // not UTF-8
      {Nested(15), "400"},                // deeper than Azure's 10
  };
  int rid = 10;
  for (const Bad& b : bad) {
    std::string r = std::to_string(rid++);
    auto res = TwinCall(device, "$iothub/twin/PATCH/properties/reported/?$rid=" + r, b.body);
    ASSERT_TRUE(res) << b.body.substr(0, 40);
    EXPECT_EQ(res->first, "$iothub/twin/res/" + b.topic_status + "/?$rid=" + r)
        << b.body.substr(0, 40);
    json error = json::parse(res->second, nullptr, false);
    ASSERT_TRUE(error.is_object()) << res->second;
    EXPECT_EQ(error.value("errorCode", 0), 400004) << res->second;  // Azure's ArgumentInvalid
    EXPECT_TRUE(error.contains("message") && error["message"].is_string()) << res->second;
  }
  // Another device is unaffected: its own patch goes through meanwhile.
  {
    mqtt::Client other(hub_->mqtt_port(), certs_.ca_file);
    ASSERT_TRUE(Connect(other, "dev-02"));
    ASSERT_EQ(Subscribe(other, "$iothub/twin/res/#"), 0);
    auto res =
        TwinCall(other, "$iothub/twin/PATCH/properties/reported/?$rid=1", R"({"fine":true})");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->first, "$iothub/twin/res/204/?$rid=1&$version=2");
  }
  auto get = TwinCall(device, "$iothub/twin/GET/?$rid=99", " ");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->first, "$iothub/twin/res/200/?$rid=99");
  json view = json::parse(get->second);
  EXPECT_EQ(view["reported"], json({{"kept", 1}, {"$version", 2}})) << get->second;

  // A patch over the MQTT packet limit (272 KiB) closes that connection, nothing else.
  // (The hub may close while the packet is still being written.)
  (void)Publish0(device, "$iothub/twin/PATCH/properties/reported/?$rid=100",
                 json{{"huge", std::string(300 * 1024, 'x')}}.dump());
  EXPECT_FALSE(NextPublish(device, std::chrono::seconds(10)).has_value()) << "must be closed";
  EXPECT_EQ(json::parse(Service("GET", "/twins/dev-01").body())["properties"]["reported"]["kept"],
            1);

  // Service: malformed JSON is 400, a stale If-Match 412, and neither changes the twin.
  Response twin = Service("GET", "/twins/dev-01");
  ASSERT_EQ(twin.result_int(), 200u);
  std::string etag = json::parse(twin.body())["etag"];
  Response malformed = Service("PATCH", "/twins/dev-01", "{\"tags\":", "If-Match: \"*\"\r\n");
  EXPECT_EQ(malformed.result_int(), 400u);
  EXPECT_EQ(ErrorName(malformed), "ArgumentInvalid");
  EXPECT_EQ(
      Service("PATCH", "/twins/dev-01", R"({"tags":{"a":1}})", "If-Match: \"" + etag + "\"\r\n")
          .result_int(),
      200u);
  Response stale =
      Service("PATCH", "/twins/dev-01", R"({"tags":{"a":2}})", "If-Match: \"" + etag + "\"\r\n");
  EXPECT_EQ(stale.result_int(), 412u) << stale.body();
  EXPECT_EQ(ErrorName(stale), "PreconditionFailed");
  Response replaced =
      Service("PUT", "/twins/dev-01", R"({"tags":{}})", "If-Match: \"" + etag + "\"\r\n");
  EXPECT_EQ(replaced.result_int(), 412u) << replaced.body();
  EXPECT_EQ(json::parse(Service("GET", "/twins/dev-01").body())["tags"], json({{"a", 1}}));

  // C2D: 50 queued, the 51st refused as Azure does (403 DeviceMaximumQueueDepthExceeded);
  // dev-02's queue is its own.
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(SendC2d("dev-01", "m" + std::to_string(i)).result_int(), 204u) << i;
  }
  Response full = SendC2d("dev-01", "m50");
  EXPECT_EQ(full.result_int(), 403u) << full.body();
  EXPECT_EQ(ErrorName(full), "DeviceMaximumQueueDepthExceeded");
  EXPECT_EQ(SendC2d("dev-02", "other").result_int(), 204u);
  // Stale and foreign lock tokens: 412 DeviceMessageLockLost, as Azure; the message stays.
  Response first = Device("GET", "/devices/dev-01/messages/deviceBound");
  ASSERT_EQ(first.result_int(), 200u);
  EXPECT_EQ(first.body(), "m0");
  std::string lock(first["ETag"]);
  lock = lock.substr(1, lock.size() - 2);
  for (const std::string& wrong : {std::string("not-a-lock"), lock + "0"}) {
    Response r = Device("DELETE", "/devices/dev-01/messages/deviceBound/" + wrong);
    EXPECT_EQ(r.result_int(), 412u) << r.body();
    EXPECT_EQ(ErrorName(r), "DeviceMessageLockLost");
    EXPECT_EQ(
        Device("POST", "/devices/dev-01/messages/deviceBound/" + wrong + "/abandon").result_int(),
        412u);
    EXPECT_EQ(
        Device("DELETE", "/devices/dev-01/messages/deviceBound/" + wrong + "?reject").result_int(),
        412u);
  }
  EXPECT_EQ(Device("DELETE", "/devices/dev-01/messages/deviceBound/" + lock).result_int(), 204u);
  Response again = Device("DELETE", "/devices/dev-01/messages/deviceBound/" + lock);
  EXPECT_EQ(again.result_int(), 412u) << again.body();
  EXPECT_EQ(ErrorName(again), "DeviceMessageLockLost");
  // dev-02's lock is not dev-01's, even with dev-01's own credentials.
  Response other = Device("GET", "/devices/dev-02/messages/deviceBound", "dev-02");
  ASSERT_EQ(other.result_int(), 200u);
  std::string other_lock(other["ETag"]);
  other_lock = other_lock.substr(1, other_lock.size() - 2);
  EXPECT_EQ(Device("DELETE", "/devices/dev-01/messages/deviceBound/" + other_lock).result_int(),
            412u);
  EXPECT_EQ(
      Call("DELETE", "/devices/dev-02/messages/deviceBound/" + other_lock, DeviceToken("dev-02"))
          .result_int(),
      204u);
  // Nothing lost: the other 49 are all there, in order.
  Response purged = Service("DELETE", "/devices/dev-01/commands");
  ASSERT_EQ(purged.result_int(), 200u);
  EXPECT_EQ(json::parse(purged.body())["totalMessagesPurged"], 49);
}

}  // namespace
}  // namespace coffre::hubservice
