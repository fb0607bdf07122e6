// The hub's HTTPS port wired as coffre-hub wires it (read API, device API, MQTT over WebSocket,
// and MQTT over TLS beside it), over real TLS on loopback: no wait of one client (a long poll,
// a durability wait, a vault round trip during a key rotation) holds a thread the others need.
// Latencies are printed; the assertions only separate "blocked" (seconds) from "not blocked"
// with a margin that a loaded two-core machine cannot cross.
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <future>
#include <thread>

#include "common/clock.h"
#include "common/encoding.h"
#include "fakes/fake_key_provider.h"
#include "fakes/slow_key_provider.h"
#include "hub/access_policies.h"
#include "hub/consumer_groups.h"
#include "hub/encryption_settings.h"
#include "hub/key_custody.h"
#include "hub/key_monitor.h"
#include "hub/quotas.h"
#include "hub/sas_token.h"
#include "hubapi/device_api.h"
#include "hubapi/read_api.h"
#include "hubapi/service_api.h"
#include "mqtt/codec.h"
#include "mqtt/server.h"
#include "mqtt/websocket_options.h"
#include "net/certificates.h"
#include "net/https_server.h"
#include "net/tls_test_client.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"

namespace coffre::hubapi {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using testing::SecondsSince;
using testing::SlowKeyProvider;
using testing::TlsClient;
using testing::WaitFor;
using Clock = std::chrono::steady_clock;

constexpr int64_t kNow = 1'800'000'000;  // seconds
constexpr int kPolls = 8;
// What "not blocked" must stay under. Blocked, each of these waits 3 to 10 s.
constexpr double kNotBlocked = 1.5;

// MQTT over TLS or over WebSocket (wss, subprotocol "mqtt", binary), blocking, for one device.
class MqttClient {
 public:
  static ssl::context Context(const std::filesystem::path& ca) {
    ssl::context ctx(ssl::context::tls_client);
    ctx.load_verify_file(ca.string());
    return ctx;
  }
  // Over WebSocket on the HTTPS port when `websocket`, else over TLS on the MQTT port.
  MqttClient(uint16_t port, const std::filesystem::path& ca, bool websocket)
      : ctx_(Context(ca)), ws_(ioc_, ctx_), websocket_(websocket) {
    auto& lowest = beast::get_lowest_layer(ws_);
    testing::ConnectFrom(lowest.socket(), port, "127.0.0.1");
    ws_.next_layer().handshake(ssl::stream_base::client);
    if (!websocket_) return;
    ws_.set_option(websocket::stream_base::decorator([](websocket::request_type& r) {
      r.set(beast::http::field::sec_websocket_protocol, "mqtt");
    }));
    ws_.binary(true);
    ws_.handshake("localhost", std::string(mqtt::kWebSocketPath));
  }
  void Send(const Bytes& b) {
    if (websocket_) {
      ws_.write(asio::buffer(b));
    } else {
      asio::write(ws_.next_layer(), asio::buffer(b));
    }
  }
  // The next packet, or nullopt once the server closed the connection.
  std::optional<mqtt::Packet> Receive() {
    for (;;) {
      auto d = mqtt::DecodePacket(buffer_, 1 << 20);
      if (d.has_value() && d->has_value()) {
        last_ = Bytes(buffer_.begin(), buffer_.begin() + (*d)->size);
        buffer_.erase(buffer_.begin(), buffer_.begin() + (*d)->size);
        return std::move(*mqtt::DecodePacket(last_, 1 << 20).value()).packet;
      }
      boost::system::error_code ec;
      if (websocket_) {
        beast::flat_buffer message;
        ws_.read(message, ec);
        if (ec) return std::nullopt;
        auto* data = static_cast<const std::byte*>(message.data().data());
        buffer_.insert(buffer_.end(), data, data + message.size());
      } else {
        std::array<char, 4096> chunk;
        size_t n = ws_.next_layer().read_some(asio::buffer(chunk), ec);
        if (ec) return std::nullopt;
        auto* data = reinterpret_cast<const std::byte*>(chunk.data());
        buffer_.insert(buffer_.end(), data, data + n);
      }
    }
  }

 private:
  asio::io_context ioc_;
  ssl::context ctx_;
  websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws_;
  bool websocket_;
  Bytes buffer_;
  Bytes last_;
};

class HubHttpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    certs_ = std::move(net::EnsureStackCertificates(dir_.path() / "tls", {}).value());
    kv_ = std::move(storage::RocksKvStore::Open(dir_.path() / "meta").value());
    keys_ = std::move(hub::HubKeys::Open(*kv_, provider_).value());
    registry_ = std::make_unique<hub::Registry>(*kv_, *keys_, clock_);
    hub::DeviceIdentity d;
    d.device_id = "dev-01";
    device_ = std::move(registry_->Create(d).value());
    hub::TelemetryStoreOptions options;
    options.hub_name = "localhost";
    options.partitions = 2;
    options.log.segment_bytes = 1 << 20;
    store_ = std::move(hub::TelemetryStore::Open(dir_.path() / "telemetry", *keys_, options).value());
    ingest_ = std::make_unique<hub::TelemetryIngest>(*store_);
    auth_ = std::make_unique<hub::DeviceAuthenticator>(
        *registry_, std::vector<std::string>{"localhost"}, clock_);
    policies_ = std::move(
        hub::AccessPolicies::Open(*kv_, *keys_, {"localhost"}, clock_).value());
    groups_ = std::move(hub::ConsumerGroups::Open(*kv_, *keys_, 2, clock_).value());
    hub::KeyMonitorOptions monitor_options;
    monitor_options.key_uri = "fake://keys/fake";
    monitor_ = std::make_unique<hub::KeyMonitor>(
        *keys_, provider_, monitor_options, [this](const hub::EncryptionStatus& s) {
          if (s.accessible) return;
          store_->WakeWaiters();  // as coffre-hub: long polls answer, devices are cut
          mqtt_->CloseAll();
        });
    mqtt::MqttServerOptions mo;
    mo.port = 0;
    mo.cert_file = certs_.cert_file;
    mo.key_file = certs_.key_file;
    mo.threads = 2;
    mqtt_ = std::move(mqtt::MqttServer::Start(mo, *auth_, *ingest_, *registry_).value());
    auto refusal = [this]() -> std::optional<net::HttpResponse> {
      if (monitor_->accessible()) return std::nullopt;
      return ServiceApi::Error(403, "CustomerManagedKeyInaccessible", "the key is disabled");
    };
    read_api_ = std::make_unique<ReadApi>(*store_, *groups_, *policies_, refusal);
    device_api_ = std::make_unique<DeviceApi>(*auth_, *ingest_);
    net::HttpsServerOptions ho;
    ho.cert_file = certs_.cert_file;
    ho.key_file = certs_.key_file;
    ho.threads = 2;  // coffre-hub's count on a two-core machine
    ho.upgrade_path = mqtt::kWebSocketPath;
    ho.on_upgrade = mqtt_->WebSocketHandler();
    https_ = std::move(net::HttpsServer::Start(ho, [this, refusal](net::HttpRequest r,
                                                                   net::HttpResponder respond) {
      if (auto refused = refusal()) return respond.Send(*refused);
      if (read_api_->Handle(r, respond)) return;
      if (device_api_->Handle(r, respond)) return;
      respond.Send(ServiceApi::Error(404, "NotFound", "No such path."));
    }).value());
    // Long polls wait on the partition dev-01 does not write to.
    poll_partition_ = 1 - store_->PartitionOf("dev-01");
  }
  void TearDown() override {
    https_.reset();
    mqtt_.reset();
    ingest_.reset();
    monitor_.reset();
  }

  std::string ServiceAuthorization() {
    auto policy = policies_->Get("service").value();
    auto key = crypto::SecretBytes::CopyOf(*Base64Decode(policy.primary_key)).value();
    return "Authorization: " + *hub::MakeSasToken("localhost", key, kNow + 3600, "service") + "\r\n";
  }
  std::string DeviceToken() {
    auto key = crypto::SecretBytes::CopyOf(*Base64Decode(device_.primary_key)).value();
    return *hub::MakeSasToken("localhost/devices/dev-01", key, kNow + 3600);
  }
  Bytes ConnectPacket() {
    token_ = DeviceToken();
    mqtt::Connect c;
    c.keep_alive = 180;
    c.client_id = "dev-01";
    c.username = "localhost/dev-01/?api-version=2021-04-12";
    c.password = AsBytes(token_);
    Bytes out;
    mqtt::EncodeConnect(out, c);
    return out;
  }
  // Connects dev-01; returns how long the CONNACK took, or a negative number if refused.
  double Connect(MqttClient& c) {
    auto start = Clock::now();
    c.Send(ConnectPacket());
    auto connack = c.Receive();
    double took = SecondsSince(start);
    if (!connack || std::get<mqtt::ConnAck>(*connack).code != mqtt::ConnectCode::kAccepted) {
      return -took;
    }
    return took;
  }
  // PUBLISH at QoS 1 to PUBACK.
  double Publish(MqttClient& c, uint16_t id) {
    Bytes publish;
    mqtt::EncodePublish(publish, {false, 1, false, "devices/dev-01/messages/events/", id, AsBytes("t")});
    auto start = Clock::now();
    c.Send(publish);
    auto ack = c.Receive();
    EXPECT_TRUE(ack.has_value());
    if (ack) {
      EXPECT_EQ(std::get<mqtt::PacketIdOnly>(*ack).packet_id, id);
    }
    return SecondsSince(start);
  }
  // `kPolls` long polls (10 s) on the partition nobody writes to, set up and waiting.
  std::vector<std::unique_ptr<TlsClient>> OpenLongPolls() {
    std::vector<std::unique_ptr<TlsClient>> polls;
    std::string target = "/telemetry/partitions/" + std::to_string(poll_partition_) +
                         "/messages?from=" + std::to_string(store_->end_sequence(poll_partition_)) +
                         "&waitMs=10000";
    for (int i = 0; i < kPolls; ++i) {
      polls.push_back(std::make_unique<TlsClient>(https_->port(), certs_.ca_file));
      EXPECT_FALSE(polls.back()->Write("GET " + target + " HTTP/1.1\r\nHost: localhost\r\n" +
                                       ServiceAuthorization() + "\r\n"));
    }
    EXPECT_TRUE(WaitFor([&] { return store_->awaiting() == kPolls; }));
    return polls;
  }

  testing::TempDir dir_;
  testing::FakeKeyProvider provider_;
  net::StackCertificates certs_;
  std::unique_ptr<storage::RocksKvStore> kv_;
  std::unique_ptr<hub::HubKeys> keys_;
  ManualClock clock_{ManualClock::WallTime(std::chrono::seconds(kNow))};
  std::unique_ptr<hub::Registry> registry_;
  hub::DeviceIdentity device_;
  std::unique_ptr<hub::TelemetryStore> store_;
  std::unique_ptr<hub::TelemetryIngest> ingest_;
  std::unique_ptr<hub::DeviceAuthenticator> auth_;
  std::unique_ptr<hub::AccessPolicies> policies_;
  std::unique_ptr<hub::ConsumerGroups> groups_;
  std::unique_ptr<hub::KeyMonitor> monitor_;
  std::unique_ptr<mqtt::MqttServer> mqtt_;
  std::unique_ptr<ReadApi> read_api_;
  std::unique_ptr<DeviceApi> device_api_;
  std::unique_ptr<net::HttpsServer> https_;
  int poll_partition_ = 0;
  std::string token_;
};

// The HTTPS device API takes from the same hub-wide quota as MQTT: past it, 429
// ThrottlingException with Retry-After, nothing stored; back once the budget refills.
TEST_F(HubHttpsTest, TheDeviceApiAnswers429OverTheD2cQuota) {
  hub::Quotas quotas(hub::QuotaOptions{{.per_second = 1, .burst = 2}});
  DeviceApi api(*auth_, *ingest_, &quotas);
  net::HttpRequest send;
  send.method = "POST";
  send.target = "/devices/dev-01/messages/events?api-version=2021-04-12";
  send.headers.emplace_back("Authorization", DeviceToken());
  send.body = "t";
  auto answer = [&] {
    std::promise<net::HttpResponse> later;
    auto got = later.get_future();
    EXPECT_TRUE(api.Handle(send, net::HttpResponder([&](net::HttpResponse r) { later.set_value(r); })));
    EXPECT_EQ(got.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    return got.get();
  };
  EXPECT_EQ(answer().status, 204u);
  EXPECT_EQ(answer().status, 204u);
  net::HttpResponse throttled = answer();
  EXPECT_EQ(throttled.status, 429u);
  EXPECT_NE(throttled.body.find("ErrorCode:ThrottlingException"), std::string::npos) << throttled.body;
  EXPECT_EQ(net::FindHeader(throttled.headers, "Retry-After"), "1");
  EXPECT_EQ(store_->end_sequence(store_->PartitionOf("dev-01")), 2u) << "a throttled message was stored";
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // the budget refills: 1/s
  EXPECT_EQ(answer().status, 204u);
}

TEST_F(HubHttpsTest, EightLongPollsDelayNeitherOtherRequestsNorWebSocketPubacks) {
  auto polls = OpenLongPolls();
  // Another HTTPS request.
  TlsClient other(https_->port(), certs_.ca_file);
  auto start = Clock::now();
  auto partitions = other.Call("GET", "/telemetry/partitions", "", ServiceAuthorization());
  double request = SecondsSince(start);
  EXPECT_EQ(partitions.result_int(), 200u) << partitions.body();
  // A device over WebSocket on the same port: CONNECT and PUBACKs.
  MqttClient ws(https_->port(), certs_.ca_file, /*websocket=*/true);
  double connect = Connect(ws);
  double puback = 0;
  for (uint16_t id = 1; id <= 5; ++id) puback = std::max(puback, Publish(ws, id));
  // The HTTPS device API, answered once the message is durable.
  TlsClient device(https_->port(), certs_.ca_file);
  start = Clock::now();
  auto sent = device.Call("POST", "/devices/dev-01/messages/events?api-version=2021-04-12",
                          "{\"t\":1}", "Authorization: " + DeviceToken() + "\r\n");
  double http_send = SecondsSince(start);
  EXPECT_EQ(sent.result_int(), 204u) << sent.body();
  std::printf("with %d long polls open: HTTPS request %.1f ms, WebSocket CONNECT %.1f ms, "
              "slowest of 5 PUBACKs %.1f ms, HTTPS device send %.1f ms\n",
              kPolls, request * 1000, connect * 1000, puback * 1000, http_send * 1000);
  EXPECT_LT(request, kNotBlocked);
  EXPECT_GT(connect, 0) << "CONNECT refused";
  EXPECT_LT(connect, kNotBlocked);
  EXPECT_LT(puback, kNotBlocked);
  EXPECT_LT(http_send, kNotBlocked);
  EXPECT_EQ(store_->awaiting(), static_cast<size_t>(kPolls)) << "the polls were still waiting";

  // A message on the polled partition answers every poll at once.
  hub::TelemetryMessage m;
  m.device_id = "x";
  m.body = ToBytes("wake");
  start = Clock::now();
  COFFRE_ASSERT_OK(store_->Append(poll_partition_, std::span(&m, 1)).status());
  COFFRE_ASSERT_OK(store_->Commit(poll_partition_));
  for (auto& poll : polls) {
    auto page = poll->Read();
    EXPECT_EQ(page.result_int(), 200u);
    EXPECT_NE(page.body().find("\"messages\":[{"), std::string::npos) << page.body();
  }
  std::printf("the commit answered all %d polls within %.1f ms\n", kPolls, SecondsSince(start) * 1000);
  EXPECT_LT(SecondsSince(start), kNotBlocked);
}

TEST_F(HubHttpsTest, AKeyDisabledDuringLongPollsCutsWebSocketDevicesAtOnce) {
  MqttClient ws(https_->port(), certs_.ca_file, /*websocket=*/true);
  ASSERT_GT(Connect(ws), 0);
  auto polls = OpenLongPolls();
  provider_.set_state(crypto::KeyState::kDisabled);
  auto start = Clock::now();
  monitor_->CheckNow();  // the check that finds the key disabled
  EXPECT_FALSE(ws.Receive().has_value()) << "the device must be disconnected";
  double cut = SecondsSince(start);
  for (auto& poll : polls) EXPECT_EQ(poll->Read().result_int(), 403u);
  double polls_done = SecondsSince(start);
  std::printf("key disabled with %d long polls open: WebSocket device cut after %.1f ms, all "
              "polls answered 403 after %.1f ms\n", kPolls, cut * 1000, polls_done * 1000);
  EXPECT_LE(cut, 2.0);
  EXPECT_LE(polls_done, 2.0);
}

TEST_F(HubHttpsTest, DeviceConnectsAreNotDelayedByTheVaultDuringARotationOrAnUnlock) {
  // Each vault call of the rotation is held 5 s (released once the CONNECTs are done): a CONNECT
  // that waited for it would take 5 to 10 s.
  SlowKeyProvider slow(provider_, std::chrono::seconds(5));
  Status rotated;
  std::thread rotation([&] { rotated = keys_->Rewrap(slow); });
  ASSERT_TRUE(WaitFor([&] { return slow.entered(); }));
  MqttClient tls(mqtt_->port(), certs_.ca_file, /*websocket=*/false);
  double during_rotation = Connect(tls);
  MqttClient ws(https_->port(), certs_.ca_file, /*websocket=*/true);
  double ws_during_rotation = Connect(ws);
  slow.Release();
  rotation.join();
  COFFRE_EXPECT_OK(rotated);

  // An unlock (the key usable again) makes the same round trips; meanwhile CONNECTs are refused
  // (the keys are locked) without waiting for it.
  keys_->Lock();
  SlowKeyProvider slow_unlock(provider_, std::chrono::seconds(5));
  Status unlocked;
  std::thread unlock([&] { unlocked = keys_->Unlock(slow_unlock); });
  ASSERT_TRUE(WaitFor([&] { return slow_unlock.entered(); }));
  MqttClient refused(mqtt_->port(), certs_.ca_file, /*websocket=*/false);
  double during_unlock = -Connect(refused);
  slow_unlock.Release();
  unlock.join();
  COFFRE_EXPECT_OK(unlocked);
  MqttClient after(mqtt_->port(), certs_.ca_file, /*websocket=*/false);
  EXPECT_GT(Connect(after), 0) << "unlocked: devices connect again";

  std::printf("CONNACK during a rotation whose vault calls are held 5 s: MQTT %.1f ms, WebSocket "
              "%.1f ms; refusal during an unlock: %.1f ms\n",
              during_rotation * 1000, ws_during_rotation * 1000, during_unlock * 1000);
  EXPECT_GT(during_rotation, 0);
  EXPECT_LT(during_rotation, kNotBlocked);
  EXPECT_GT(ws_during_rotation, 0);
  EXPECT_LT(ws_during_rotation, kNotBlocked);
  EXPECT_GT(during_unlock, 0) << "a locked hub refuses the CONNECT";
  EXPECT_LT(during_unlock, kNotBlocked);
}

// `coffre hub encryption set` (turning a customer key on) re-wraps the root key through the new
// key's vault: while its calls are held (5 s each, released once the CONNECTs are done), device
// CONNECTs do not wait for them.
TEST_F(HubHttpsTest, DeviceConnectsAreNotDelayedByAnEncryptionSetWithASlowVault) {
  SlowKeyProvider slow(provider_, std::chrono::seconds(5));
  auto config = std::move(hub::EncryptionConfig::Load(*kv_, hub::EncryptionSettings{}).value());
  auto service_key = std::move(crypto::SecretBytes::Random(32).value());
  hub::KeyCustody custody(*config, service_key, dir_.path() / "custody",
                          [&](const hub::EncryptionSettings&, std::chrono::milliseconds) {
                            // The slow vault, borrowed: it outlives the custody.
                            return Result<std::shared_ptr<crypto::KeyProvider>>(
                                std::shared_ptr<crypto::KeyProvider>(&slow, [](crypto::KeyProvider*) {}));
                          });
  Status set;
  std::thread change([&] {
    set = custody.UseCustomerKey(*keys_, "https://vault.example/keys/hub-cmk", "hub-token", "");
  });
  ASSERT_TRUE(WaitFor([&] { return slow.entered(); }));
  MqttClient tls(mqtt_->port(), certs_.ca_file, /*websocket=*/false);
  double during = Connect(tls);
  MqttClient ws(https_->port(), certs_.ca_file, /*websocket=*/true);
  double ws_during = Connect(ws);
  slow.Release();
  change.join();
  COFFRE_EXPECT_OK(set);
  EXPECT_EQ(config->Get().key_uri, "https://vault.example/keys/hub-cmk");
  std::printf("CONNACK during an encryption set whose vault calls are held 5 s: MQTT %.1f ms, "
              "WebSocket %.1f ms\n", during * 1000, ws_during * 1000);
  EXPECT_GT(during, 0);
  EXPECT_LT(during, kNotBlocked);
  EXPECT_GT(ws_during, 0);
  EXPECT_LT(ws_during, kNotBlocked);
}

}  // namespace
}  // namespace coffre::hubapi
