// HubService in-process: one object starts the whole hub on free ports and stops it in its
// stated order; a start that fails stops what it had started; a restart keeps the data; the key
// monitor reaches the MQTT server it was built before (the cycle main.cc broke by hand).
#include "hubservice/hub_service.h"


#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "hubservice/dev01_connect.h"
#include "hubservice/handle_now.h"
#include "hubservice/test_hub_options.h"

#include "common/encoding.h"
#include "fakes/fake_key_provider.h"
#include "hub/sas_token.h"
#include "mqtt/server_fixture.h"
#include "net/certificates.h"
#include "net/ssl_ptrs.h"
#include "net/tls_test_client.h"
#include "storage/file_cipher.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"

namespace coffre::hubservice {
namespace {

using coffre::testing::StatusIs;

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class HubServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    certs_ = std::move(net::EnsureStackCertificates(dir_.path() / "tls", {}).value());
  }
  HubOptions Options(const std::string& name = "hub") {
    HubOptions o = coffre::testing::TestHubOptions(dir_.path() / name, certs_);
    o.telemetry.partitions = 2;
    return o;
  }
  // A customer-managed hub whose vault is `vault_`.
  HubOptions CustomerManaged() {
    HubOptions o = Options();
    o.encryption.key_uri = "https://vault.example/keys/fake";
    o.key_monitor_thread = false;  // the test checks (CheckNow)
    o.customer_keys = [this](const hub::EncryptionSettings&, std::chrono::milliseconds) {
      return Result<std::shared_ptr<crypto::KeyProvider>>(
          std::shared_ptr<crypto::KeyProvider>(&vault_, [](crypto::KeyProvider*) {}));
    };
    return o;
  }
  // A SAS token of the hub's shared access policy `policy`, valid for an hour.
  static std::string PolicySas(HubService& hub, const std::string& policy) {
    auto key = crypto::SecretBytes::CopyOf(*Base64Decode(hub.policies().Get(policy).value().primary_key))
                   .value();
    return *hub::MakeSasToken("localhost", key, Now() + 3600, policy);
  }
  // dev-01's key, read while the hub's keys are usable.
  static std::string DeviceKey(HubService& hub) {
    return hub.registry().Get("dev-01").value().primary_key;
  }
  // dev-01's CONNECT, with a SAS token from `device_key` valid for an hour.
  static Bytes ConnectPacket(const std::string& device_key) {
    return coffre::testing::Dev01ConnectPacket(device_key);
  }
  // dev-01 connects over MQTT/TLS with `device_key`; true once CONNACK accepted it.
  bool Connect(const std::string& device_key, mqtt::Client& client) {
    client.Send(ConnectPacket(device_key));
    auto connack = client.Receive();
    return connack && std::get<mqtt::ConnAck>(*connack).code == mqtt::ConnectCode::kAccepted;
  }

  coffre::testing::TempDir dir_;
  coffre::testing::FakeKeyProvider vault_;
  net::StackCertificates certs_;
};

TEST_F(HubServiceTest, OneObjectServesMqttAndHttpsAndARestartKeepsTheData) {
  auto hub = std::move(HubService::Start(Options()).value());
  EXPECT_NE(
      hub->Describe().find("listening on mqtts://127.0.0.1:" + std::to_string(hub->mqtt_port())),
      std::string::npos)
      << hub->Describe();
  {
    mqtt::Client device(hub->mqtt_port(), certs_.ca_file);
    ASSERT_TRUE(Connect(DeviceKey(*hub), device));
    device.Send(mqtt::Publish1(7, "kept"));
    auto ack = device.Receive();
    ASSERT_TRUE(ack.has_value());
    EXPECT_EQ(std::get<mqtt::PacketIdOnly>(*ack).packet_id, 7);
  }
  // The HTTPS port: routes answer in IoT Hub's error form.
  coffre::testing::TlsClient https(hub->https_port(), certs_.ca_file);
  auto missing = https.Call("GET", "/no/such/path", "", "");
  EXPECT_EQ(missing.result_int(), 404u);
  EXPECT_NE(missing.body().find("ErrorCode:NotFound"), std::string::npos) << missing.body();
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "hub/bootstrap/dev-01.connection-string"));
  hub->Stop();
  hub->Stop();  // idempotent
  hub.reset();

  hub = std::move(HubService::Start(Options()).value());
  hub::TelemetryStore& store = hub->store();
  auto stored = store.Read(store.PartitionOf("dev-01"), 0, 10, SIZE_MAX).value();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(AsChars(stored[0].message.body), "kept");
}

// One MQTT connection over TLS 1.3 by hand (OpenSSL on a blocking socket): dev-01's CONNECT, its
// CONNACK (the server's tickets come before it), offering `offer` if given. Returns the session
// to offer next; `resumed` says whether this handshake resumed.
coffre::testing::SslSessionPtr MqttTlsSession(uint16_t port, const std::filesystem::path& ca,
                                              const Bytes& connect, SSL_SESSION* offer,
                                              bool* resumed, bool accepted = true) {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket socket(ioc);
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  auto ctx = coffre::testing::ClientTrusting(ca);
  coffre::testing::SslPtr ssl(SSL_new(ctx.get()));
  SSL_set_fd(ssl.get(), static_cast<int>(socket.native_handle()));
  SSL_set_tlsext_host_name(ssl.get(), "localhost");
  if (offer != nullptr) SSL_set_session(ssl.get(), offer);
  EXPECT_EQ(SSL_connect(ssl.get()), 1);
  EXPECT_EQ(SSL_write(ssl.get(), connect.data(), static_cast<int>(connect.size())),
            static_cast<int>(connect.size()));
  unsigned char connack[4] = {};
  EXPECT_EQ(SSL_read(ssl.get(), connack, sizeof connack), 4);
  EXPECT_EQ(connack[3] == 0, accepted) << "CONNACK code " << int{connack[3]};
  *resumed = SSL_session_reused(ssl.get()) == 1;
  coffre::testing::SslSessionPtr next(SSL_get1_session(ssl.get()));
  SSL_shutdown(ssl.get());
  return next;
}

// The MQTT port's TLS ticket keys outlive a restart, sealed in the metadata store: a device
// resumes its TLS session with the restarted hub (a reconnect storm after a restart costs
// resumed handshakes, not full ones).
TEST_F(HubServiceTest, ADeviceResumesItsTlsSessionAfterARestart) {
  auto hub = std::move(HubService::Start(Options()).value());
  Bytes connect = ConnectPacket(DeviceKey(*hub));

  bool resumed = true;
  auto first = MqttTlsSession(hub->mqtt_port(), certs_.ca_file, connect, nullptr, &resumed);
  EXPECT_FALSE(resumed);
  ASSERT_TRUE(first && SSL_SESSION_has_ticket(first.get()));
  MqttTlsSession(hub->mqtt_port(), certs_.ca_file, connect, first.get(), &resumed);
  EXPECT_TRUE(resumed) << "the same hub";

  hub->Stop();
  hub.reset();
  hub = std::move(HubService::Start(Options()).value());  // the same data, new ports
  MqttTlsSession(hub->mqtt_port(), certs_.ca_file, connect, first.get(), &resumed);
  EXPECT_TRUE(resumed) << "the restarted hub opened the ticket";
  EXPECT_TRUE(hub->keys().Open(hub->kv().Get("tls-ticket-keys/mqtt").value(),
                               AsBytes(std::string("tls-ticket-keys/mqtt")))
                  .has_value())
      << "the row is a sealed envelope bound to its name";
}

// A hub that starts Inaccessible makes new ticket keys it cannot seal yet; once the customer's
// key is usable again it saves them, so a device's session from that run resumes after the
// next restart.
TEST_F(HubServiceTest, TicketKeysMadeWhileInaccessibleAreSavedWhenTheKeyIsBack) {
  auto hub = std::move(HubService::Start(CustomerManaged()).value());
  Bytes connect = ConnectPacket(DeviceKey(*hub));  // read while the hub's keys are usable
  hub->Stop();
  hub.reset();

  vault_.set_state(crypto::KeyState::kDisabled);
  hub = std::move(HubService::Start(CustomerManaged()).value());
  ASSERT_FALSE(hub->monitor().accessible());
  bool resumed = true;
  auto session = MqttTlsSession(hub->mqtt_port(), certs_.ca_file, connect, nullptr, &resumed,
                                /*accepted=*/false);  // TLS, then CONNACK "server unavailable"
  ASSERT_TRUE(session && SSL_SESSION_has_ticket(session.get()));
  vault_.set_state(crypto::KeyState::kEnabled);
  hub->monitor().CheckNow();
  ASSERT_TRUE(hub->monitor().accessible());
  hub->Stop();
  hub.reset();

  hub = std::move(HubService::Start(CustomerManaged()).value());
  MqttTlsSession(hub->mqtt_port(), certs_.ca_file, connect, session.get(), &resumed);
  EXPECT_TRUE(resumed) << "the keys of the run that started Inaccessible were saved";
}

size_t OpenFiles() {
  return static_cast<size_t>(std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                                           std::filesystem::directory_iterator()));
}

// A hub stopped while a device is connected, its read pending, frees that connection with the
// rest: no socket (nor anything else) of the hub stays open.
TEST_F(HubServiceTest, AStopWithADeviceConnectedLeavesNothingOpen) {
  size_t before = OpenFiles();
  auto hub = std::move(HubService::Start(Options()).value());
  auto device = std::make_unique<mqtt::Client>(hub->mqtt_port(), certs_.ca_file);
  ASSERT_TRUE(Connect(DeviceKey(*hub), *device));
  hub->Stop();
  hub.reset();
  device.reset();  // its socket and its io_context's files
  EXPECT_EQ(OpenFiles(), before);
}

// Azure's cloudToDeviceMessageCount is the device's C2D queue depth, in the registry's view of
// the device and in its twin, over HTTPS as a service reads them.
TEST_F(HubServiceTest, TheDeviceAndItsTwinCountTheQueuedC2dMessages) {
  auto hub = std::move(HubService::Start(Options()).value());
  std::string auth = "Authorization: " + PolicySas(*hub, "iothubowner") + "\r\n";
  coffre::testing::TlsClient https(hub->https_port(), certs_.ca_file);
  const std::string v = "?api-version=2021-04-12";
  auto count = [&](const std::string& path) {
    auto r = https.Call("GET", path + v, "", auth);
    EXPECT_EQ(r.result_int(), 200u) << r.body();
    nlohmann::json j = nlohmann::json::parse(r.body(), nullptr, false);
    return j.is_object() && j.contains("cloudToDeviceMessageCount")
               ? j["cloudToDeviceMessageCount"].get<int64_t>()
               : int64_t{-1};
  };
  EXPECT_EQ(count("/devices/dev-01"), 0);
  EXPECT_EQ(count("/twins/dev-01"), 0);
  for (const char* body : {"one", "two"}) {
    auto sent = https.Call("POST", "/devices/dev-01/messages/devicebound" + v, body, auth);
    ASSERT_EQ(sent.result_int(), 204u) << sent.body();
  }
  EXPECT_EQ(count("/devices/dev-01"), 2);
  EXPECT_EQ(count("/twins/dev-01"), 2);
  ASSERT_EQ(https.Call("DELETE", "/devices/dev-01/commands" + v, "", auth).result_int(), 200u);
  EXPECT_EQ(count("/devices/dev-01"), 0);
  EXPECT_EQ(count("/twins/dev-01"), 0);
}

// A device's row put back from an older sealed copy while the hub was stopped (here: the device
// enabled again behind the owner's back): the next start reports its table, and `coffre hub
// verify`'s route answers "ok": false with the table named.
TEST_F(HubServiceTest, ARegistryRowPutBackWhileStoppedIsReportedByVerify) {
  HubOptions options = Options();
  std::string row;
  Bytes enabled;
  {
    auto hub = std::move(HubService::Start(options).value());
    COFFRE_ASSERT_OK_AND_ASSIGN(hub::DeviceIdentity d, hub->registry().Get("dev-01"));
    std::map<std::string, Bytes> before;
    COFFRE_ASSERT_OK(hub->kv().Scan("dev/", [&](std::string_view k, ByteSpan v) {
      before.emplace(std::string(k), Bytes(v.begin(), v.end()));
      return true;
    }));
    d.status = hub::DeviceStatus::kDisabled;
    COFFRE_ASSERT_OK(hub->registry().Update(d, "*").status());
    COFFRE_ASSERT_OK(hub->kv().Scan("dev/", [&](std::string_view k, ByteSpan v) {
      if (before.at(std::string(k)) != Bytes(v.begin(), v.end())) row = std::string(k);
      return true;
    }));
    ASSERT_FALSE(row.empty());
    enabled = before.at(row);
    hub->Stop();
  }
  {
    auto service_key = std::move(storage::LoadServiceKeyFile(options.service_key_file).value());
    auto kv = std::move(storage::RocksKvStore::Open(options.dir / "meta", {nullptr, &service_key}).value());
    COFFRE_ASSERT_OK(kv->Put(row, enabled, true));
  }
  auto hub = std::move(HubService::Start(options).value());
  EXPECT_EQ(hub->registry().Get("dev-01")->status, hub::DeviceStatus::kEnabled);  // it opens
  coffre::testing::TlsClient https(hub->https_port(), certs_.ca_file);
  auto r = https.Call("POST", "/$coffre/verify?api-version=2021-04-12", "",
                      "Authorization: " + PolicySas(*hub, "iothubowner") + "\r\n");
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  nlohmann::json report = nlohmann::json::parse(r.body());
  EXPECT_FALSE(report["ok"].get<bool>());
  ASSERT_EQ(report["metadata"]["breaks"].size(), 1u) << r.body();
  EXPECT_EQ(report["metadata"]["breaks"][0]["table"], "dev");
}

// Only a policy with RegistryWrite erases: the service, device and registryRead policies are
// refused (401) and nothing is erased; a device's own token neither.
TEST_F(HubServiceTest, OnlyRegistryWriteErasesADevice) {
  auto hub = std::move(HubService::Start(Options()).value());
  coffre::testing::TlsClient https(hub->https_port(), certs_.ca_file);
  auto token = [&](const std::string& policy) {
    return "Authorization: " + PolicySas(*hub, policy) + "\r\n";
  };
  auto device_key = crypto::SecretBytes::CopyOf(*Base64Decode(DeviceKey(*hub))).value();
  std::string device_token =
      "Authorization: " + *hub::MakeSasToken("localhost/devices/dev-01", device_key, Now() + 3600) + "\r\n";
  const std::string body = R"({"deviceId":"dev-01"})";
  for (const std::string& auth : {token("service"), token("device"), token("registryRead"), device_token}) {
    auto r = https.Call("POST", "/$coffre/erasures?api-version=2021-04-12", body, auth);
    EXPECT_EQ(r.result_int(), 401u) << r.body();
  }
  EXPECT_TRUE(hub->registry().Get("dev-01").has_value());
  auto r = https.Call("POST", "/$coffre/erasures?api-version=2021-04-12", body, token("registryReadWrite"));
  EXPECT_EQ(r.result_int(), 200u) << r.body();
  EXPECT_FALSE(hub->registry().Get("dev-01").has_value());
  auto listed = https.Call("GET", "/$coffre/erasures?api-version=2021-04-12", "", token("registryRead"));
  EXPECT_EQ(listed.result_int(), 200u) << listed.body();
  EXPECT_NE(listed.body().find("\"erasedBy\":\"registryReadWrite\""), std::string::npos) << listed.body();
}

// HandleHttps is the HTTPS port's dispatcher without TLS: in-process callers (the routes fuzzer)
// get the same answers.
TEST_F(HubServiceTest, HandleHttpsDispatchesAsTheHttpsPortDoes) {
  auto hub = std::move(HubService::Start(Options()).value());
  net::HttpResponse out = coffre::testing::HandleNow(*hub, "GET", "/twins/dev-01?api-version=2021-04-12");
  EXPECT_EQ(out.status, 401u);  // no credential
  EXPECT_NE(out.body.find("ErrorCode:IotHubUnauthorizedAccess"), std::string::npos) << out.body;
}

TEST_F(HubServiceTest, AStartThatFailsStopsWhatItStartedAndLeavesTheOtherHubServing) {
  auto first = std::move(HubService::Start(Options()).value());
  // The MQTT port taken: nothing of the second hub runs.
  HubOptions taken_mqtt = Options("second");
  taken_mqtt.mqtt.port = first->mqtt_port();
  EXPECT_FALSE(HubService::Start(taken_mqtt).has_value());
  // The HTTPS port taken: its MQTT server had started, and is stopped again.
  HubOptions taken_https = Options("third");
  taken_https.https.port = first->https_port();
  EXPECT_FALSE(HubService::Start(taken_https).has_value());
  mqtt::Client device(first->mqtt_port(), certs_.ca_file);
  EXPECT_TRUE(Connect(DeviceKey(*first), device));
}

TEST_F(HubServiceTest, TunablesOutsideTheirRangesAreRefusedBeforeAnythingStarts) {
  HubOptions o = Options();
  o.encryption.key_check_interval_ms = 3'600'000;  // 50 to 500
  auto hub = HubService::Start(o);
  ASSERT_FALSE(hub.has_value());
  EXPECT_THAT(hub.error(), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_FALSE(std::filesystem::exists(o.dir));
  o = Options();
  o.host_names.clear();
  EXPECT_THAT(HubService::Start(o).error(), StatusIs(StatusCode::kInvalidArgument));
}

TEST_F(HubServiceTest, ACustomerKeyWithoutAProviderIsRefusedAtStart) {
  HubOptions o = CustomerManaged();
  o.customer_keys = nullptr;
  auto hub = HubService::Start(o);
  ASSERT_FALSE(hub.has_value());
  EXPECT_THAT(hub.error(), StatusIs(StatusCode::kFailedPrecondition));
}

TEST_F(HubServiceTest, AnInaccessibleKeyClosesTheDevicesOfTheMqttServer) {
  auto hub = std::move(HubService::Start(CustomerManaged()).value());
  EXPECT_TRUE(hub->monitor().accessible());
  std::string key = DeviceKey(*hub);
  mqtt::Client device(hub->mqtt_port(), certs_.ca_file);
  ASSERT_TRUE(Connect(key, device));
  vault_.set_state(crypto::KeyState::kDisabled);
  hub->monitor().CheckNow();
  EXPECT_FALSE(device.Receive(std::chrono::seconds(10)).has_value())
      << "the device must be disconnected";
  EXPECT_FALSE(hub->monitor().accessible());
  mqtt::Client refused(hub->mqtt_port(), certs_.ca_file);
  EXPECT_FALSE(Connect(key, refused));
  // The key back: the hub serves again, by itself.
  vault_.set_state(crypto::KeyState::kEnabled);
  hub->monitor().CheckNow();
  EXPECT_TRUE(hub->monitor().accessible());
  mqtt::Client again(hub->mqtt_port(), certs_.ca_file);
  EXPECT_TRUE(Connect(key, again));
}

// /healthz and /readyz answer without credentials; readiness follows the customer key (the hub
// refuses devices while it is inaccessible) and comes back with it.
TEST_F(HubServiceTest, HealthProbesAnswerWithoutCredentialsAndReadinessFollowsTheKey) {
  auto hub = std::move(HubService::Start(CustomerManaged()).value());
  auto probe = [&](const std::string& method, const std::string& target) {
    return coffre::testing::HandleNow(*hub, method, target);
  };
  EXPECT_EQ(probe("GET", "/healthz").status, 200u);
  EXPECT_EQ(probe("HEAD", "/readyz?verbose=1").status, 200u);
  EXPECT_EQ(probe("GET", "/readyz").body, R"({"status":"ready"})");
  EXPECT_EQ(probe("POST", "/readyz").status, 405u);
  vault_.set_state(crypto::KeyState::kDisabled);
  hub->monitor().CheckNow();
  auto not_ready = probe("GET", "/readyz");
  EXPECT_EQ(not_ready.status, 503u);
  EXPECT_NE(not_ready.body.find("customer-managed key is inaccessible"), std::string::npos)
      << not_ready.body;
  EXPECT_EQ(probe("GET", "/healthz").status, 200u);  // alive all the same
  vault_.set_state(crypto::KeyState::kEnabled);
  hub->monitor().CheckNow();
  EXPECT_EQ(probe("GET", "/readyz").status, 200u);
}

// GET /metrics (docs/METRICS.md): a ServiceConnect token by default, refused like any service
// call while Inaccessible; counters that follow a device's telemetry and refused tokens; and no
// key, token or device id in the text.
TEST_F(HubServiceTest, TheStatusPageIsPublicItsDataNeedsAServiceTokenAndOutagesShow) {
  auto hub = std::move(HubService::Start(CustomerManaged()).value());
  auto owner = hub->policies().Get("iothubowner").value();
  std::string sas = PolicySas(*hub, "iothubowner");
  std::string no_right = PolicySas(*hub, "registryRead");
  using coffre::testing::HandleNow;

  net::HttpResponse page = HandleNow(*hub, "GET", "/$coffre/status");
  ASSERT_EQ(page.status, 200u);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("status/app.js"), std::string::npos);
  bool strict = false;
  for (const auto& [name, value] : page.headers) {
    strict = strict || (name == "Content-Security-Policy" &&
                        value.find("default-src 'none'") != std::string::npos);
  }
  EXPECT_TRUE(strict) << "the page allows no outside asset";
  EXPECT_EQ(HandleNow(*hub, "GET", "/%24coffre/status/app.js").status, 200u);
  EXPECT_EQ(HandleNow(*hub, "GET", "/$coffre/status/style.css").content_type, "text/css; charset=utf-8");
  EXPECT_EQ(HandleNow(*hub, "POST", "/$coffre/status").status, 405u);
  EXPECT_EQ(HandleNow(*hub, "DELETE", "/$coffre/status/data", sas).status, 405u);
  EXPECT_EQ(HandleNow(*hub, "GET", "/$coffre/status/none").status, 404u);

  EXPECT_EQ(HandleNow(*hub, "GET", "/$coffre/status/data").status, 401u);
  EXPECT_EQ(HandleNow(*hub, "GET", "/$coffre/status/data", no_right).status, 401u);
  EXPECT_EQ(HandleNow(*hub, "GET", "/$coffre/status/data", "SharedAccessSignature sr=x").status, 401u);
  net::HttpResponse data = HandleNow(*hub, "GET", "/$coffre/status/data?x=1", sas);
  ASSERT_EQ(data.status, 200u) << data.body;
  auto json = nlohmann::json::parse(data.body);
  EXPECT_EQ(json["hub"], "localhost");
  EXPECT_EQ(json["key"]["state"], "Accessible");
  EXPECT_EQ(json["partitions"].size(), 2u);
  EXPECT_TRUE(json["connections"].contains("mqtt"));
  EXPECT_EQ(data.body.find(owner.primary_key), std::string::npos);

  // The key disabled: nobody can be authenticated, the data says only the key's state.
  vault_.set_state(crypto::KeyState::kDisabled);
  hub->monitor().CheckNow();
  net::HttpResponse outage = HandleNow(*hub, "GET", "/$coffre/status/data", sas);
  ASSERT_EQ(outage.status, 403u) << outage.body;
  auto refused = nlohmann::json::parse(outage.body);
  EXPECT_EQ(refused["ErrorCode"], "CustomerManagedKeyInaccessible");
  EXPECT_EQ(refused["key"]["state"], "Inaccessible");
  EXPECT_EQ(refused["key"]["reason"], "KeyDisabled");
  EXPECT_EQ(refused["key"].size(), 3u) << "state, reason, since: nothing more";
  EXPECT_EQ(HandleNow(*hub, "GET", "/$coffre/status/data").status, 403u);
  EXPECT_EQ(HandleNow(*hub, "GET", "/$coffre/status").status, 200u) << "the page itself stays";
}

TEST_F(HubServiceTest, MetricsNeedAServiceTokenAndFollowTheTraffic) {
  auto hub = std::move(HubService::Start(CustomerManaged()).value());
  std::string key = DeviceKey(*hub);
  auto owner = hub->policies().Get("iothubowner").value();
  auto read = hub->policies().Get("registryRead").value();
  std::string sas = PolicySas(*hub, "iothubowner");
  std::string no_right = PolicySas(*hub, "registryRead");
  auto device_key = crypto::SecretBytes::CopyOf(*Base64Decode(key)).value();
  std::string device_sas = *hub::MakeSasToken("localhost/devices/dev-01", device_key, Now() + 3600);
  auto get = [&](const std::string& authorization) {
    return coffre::testing::HandleNow(*hub, "GET", "/metrics", authorization);
  };

  EXPECT_EQ(get("").status, 401u);
  EXPECT_EQ(get(no_right).status, 401u);  // registryRead lacks ServiceConnect
  mqtt::Client device(hub->mqtt_port(), certs_.ca_file);
  ASSERT_TRUE(Connect(key, device));
  net::HttpResponse sent = coffre::testing::HandleNow(
      *hub, "POST", "/devices/dev-01/messages/events?api-version=2021-04-12", device_sas, "hello");
  ASSERT_EQ(sent.status, 204u) << sent.body;
  net::HttpResponse scrape = get(sas);
  ASSERT_EQ(scrape.status, 200u) << scrape.body;
  EXPECT_EQ(scrape.content_type, "text/plain; version=0.0.4; charset=utf-8");
  const std::string& text = scrape.body;
  for (const char* line :
       {"coffre_hub_messages_received_total{protocol=\"https\"} 1\n",
        "coffre_hub_received_bytes_total{protocol=\"https\"} 5\n",
        "coffre_hub_messages_received_total{protocol=\"mqtt\"} 0\n",
        "coffre_hub_messages_stored_total 1\n", "coffre_hub_ack_latency_seconds_count 1\n",
        "coffre_hub_group_commit_messages_bucket{le=\"1\"} 1\n",
        "coffre_hub_authenticated_connections{protocol=\"mqtt\"} 1\n",
        "coffre_hub_connections{protocol=\"mqtt\"} 1\n",
        "coffre_hub_auth_refusals_total{caller=\"service\",reason=\"malformed\"} 1\n",
        "coffre_hub_auth_refusals_total{caller=\"service\",reason=\"permission\"} 1\n",
        "coffre_hub_customer_key_accessible{mode=\"customer-managed\",reason=\"\"} 1\n",
        "coffre_hub_customer_key_checks_total{result=\"ok\"} 1\n",
        "coffre_hub_ingest_queued_messages 0\n",
        "coffre_hub_work_queue_tasks{queue=\"store_writes\"} 0\n",
        "coffre_hub_disk_full 0\n", "coffre_hub_metadata_writable 1\n",
        "coffre_hub_store_reconnects_total 0\n",
        "coffre_hub_partition_retained_messages{partition=\"1\"} "}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << " not in:\n" << text;
  }
  for (const std::string& secret : {key, owner.primary_key, read.primary_key, sas, device_sas,
                                    std::string("dev-01")}) {
    EXPECT_EQ(text.find(secret), std::string::npos) << "found " << secret;
  }
  EXPECT_EQ(coffre::testing::HandleNow(*hub, "POST", "/metrics", sas).status, 405u);

  // Inaccessible: the policies are sealed too, so a token cannot be checked: refused.
  vault_.set_state(crypto::KeyState::kDisabled);
  hub->monitor().CheckNow();
  net::HttpResponse refused = get(sas);
  EXPECT_EQ(refused.status, 403u);
  EXPECT_NE(refused.body.find("CustomerManagedKeyInaccessible"), std::string::npos);
}

// HubOptions::metrics_open: no token asked, and the scrape answers while Inaccessible, with why.
TEST_F(HubServiceTest, OpenMetricsAnswerWithoutATokenAndShowTheKeyState) {
  HubOptions o = CustomerManaged();
  o.metrics_open = true;
  auto hub = std::move(HubService::Start(std::move(o)).value());
  EXPECT_EQ(coffre::testing::HandleNow(*hub, "GET", "/metrics").status, 200u);
  vault_.set_state(crypto::KeyState::kDisabled);
  hub->monitor().CheckNow();
  net::HttpResponse scrape = coffre::testing::HandleNow(*hub, "GET", "/metrics");
  ASSERT_EQ(scrape.status, 200u);
  for (const char* line :
       {"coffre_hub_customer_key_accessible{mode=\"customer-managed\",reason=\"KeyDisabled\"} 0\n",
        "coffre_hub_customer_key_checks_total{result=\"KeyDisabled\"} 1\n",
        "coffre_hub_customer_key_check_duration_seconds_count 2\n"}) {
    EXPECT_NE(scrape.body.find(line), std::string::npos) << line << " not in:\n" << scrape.body;
  }
  EXPECT_EQ(coffre::testing::HandleNow(*hub, "HEAD", "/metrics").body, "");
}

}  // namespace
}  // namespace coffre::hubservice
