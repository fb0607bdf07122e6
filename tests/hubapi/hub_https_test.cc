// The hub as coffre-hub runs it, one HubService in-process (read API, device API, MQTT over
// WebSocket, and MQTT over TLS beside it), over real TLS on loopback: no wait of one client (a
// long poll, a durability wait, a vault round trip during a key rotation) holds a thread the
// others need.
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
#include "hubservice/hub_service.h"
#include "hubservice/ingest_send.h"
#include "hubservice/test_hub_options.h"
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

// Seconds since the epoch, as the hub's clocks read them.
int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
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

// The whole hub, as coffre-hub runs it: one HubService in-process on free ports, its customer
// key the fake vault `provider_` (or whatever customer_key_ points to).
class HubHttpsTest : public ::testing::Test {
 protected:
  hubservice::HubOptions Options() {
    hubservice::HubOptions o = testing::TestHubOptions(dir_.path() / "hub", certs_);
    o.encryption.key_uri = "https://vault.example/keys/fake";
    // The tests check the key themselves (CheckNow): no monitor thread races a test's
    // Lock/Unlock or calls a test's slow vault.
    o.key_monitor_thread = false;
    o.customer_keys = [this](const hub::EncryptionSettings&, std::chrono::milliseconds) {
      // The fake vault, borrowed: it outlives the hub.
      return Result<std::shared_ptr<crypto::KeyProvider>>(
          std::shared_ptr<crypto::KeyProvider>(customer_key_, [](crypto::KeyProvider*) {}));
    };
    o.telemetry.partitions = 2;
    return o;
  }
  void StartHub(hubservice::HubOptions options) {
    hub_.reset();
    auto started = hubservice::HubService::Start(std::move(options));
    ASSERT_TRUE(started.has_value()) << started.error();
    hub_ = std::move(*started);
    device_ = hub_->registry().Get("dev-01").value();
    // Long polls wait on the partition dev-01 does not write to.
    poll_partition_ = 1 - hub_->store().PartitionOf("dev-01");
  }
  void SetUp() override {
    certs_ = std::move(net::EnsureStackCertificates(dir_.path() / "tls", {}).value());
    StartHub(Options());
  }
  void TearDown() override { hub_.reset(); }  // HubService's stop order

  std::string ServiceAuthorization() {
    auto policy = hub_->policies().Get("service").value();
    auto key = crypto::SecretBytes::CopyOf(*Base64Decode(policy.primary_key)).value();
    return "Authorization: " + *hub::MakeSasToken("localhost", key, Now() + 3600, "service") + "\r\n";
  }
  std::string DeviceToken() {
    auto key = crypto::SecretBytes::CopyOf(*Base64Decode(device_.primary_key)).value();
    return *hub::MakeSasToken("localhost/devices/dev-01", key, Now() + 3600);
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
                         "/messages?from=" + std::to_string(hub_->store().end_sequence(poll_partition_)) +
                         "&waitMs=10000";
    for (int i = 0; i < kPolls; ++i) {
      polls.push_back(std::make_unique<TlsClient>(hub_->https_port(), certs_.ca_file));
      EXPECT_FALSE(polls.back()->Write("GET " + target + " HTTP/1.1\r\nHost: localhost\r\n" +
                                       ServiceAuthorization() + "\r\n"));
    }
    EXPECT_TRUE(WaitFor([&] { return hub_->store().awaiting() == kPolls; }));
    return polls;
  }

  testing::TempDir dir_;
  testing::FakeKeyProvider provider_;
  crypto::KeyProvider* customer_key_ = &provider_;
  net::StackCertificates certs_;
  std::unique_ptr<hubservice::HubService> hub_;
  hub::DeviceIdentity device_;
  int poll_partition_ = 0;
  std::string token_;
};

// The HTTPS device API takes from the same hub-wide quota as MQTT: past it, 429
// ThrottlingException with Retry-After, nothing stored; back once the budget refills.
TEST_F(HubHttpsTest, TheDeviceApiAnswers429OverTheD2cQuota) {
  hubservice::HubOptions options = Options();
  options.quotas.d2c_sends = {.per_second = 1, .burst = 2};
  StartHub(std::move(options));
  auto answer = [&] {
    TlsClient device(hub_->https_port(), certs_.ca_file);
    return device.Call("POST", "/devices/dev-01/messages/events?api-version=2021-04-12", "t",
                       "Authorization: " + DeviceToken() + "\r\n");
  };
  EXPECT_EQ(answer().result_int(), 204u);
  EXPECT_EQ(answer().result_int(), 204u);
  auto throttled = answer();
  EXPECT_EQ(throttled.result_int(), 429u);
  EXPECT_NE(throttled.body().find("ErrorCode:ThrottlingException"), std::string::npos)
      << throttled.body();
  EXPECT_EQ(throttled["Retry-After"], "1");
  hub::TelemetryStore& store = hub_->store();
  EXPECT_EQ(store.end_sequence(store.PartitionOf("dev-01")), 2u) << "a throttled message was stored";
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // the budget refills: 1/s
  EXPECT_EQ(answer().result_int(), 204u);
}

TEST_F(HubHttpsTest, EightLongPollsDelayNeitherOtherRequestsNorWebSocketPubacks) {
  auto polls = OpenLongPolls();
  // Another HTTPS request.
  TlsClient other(hub_->https_port(), certs_.ca_file);
  auto start = Clock::now();
  auto partitions = other.Call("GET", "/telemetry/partitions", "", ServiceAuthorization());
  double request = SecondsSince(start);
  EXPECT_EQ(partitions.result_int(), 200u) << partitions.body();
  // A device over WebSocket on the same port: CONNECT and PUBACKs.
  MqttClient ws(hub_->https_port(), certs_.ca_file, /*websocket=*/true);
  double connect = Connect(ws);
  double puback = 0;
  for (uint16_t id = 1; id <= 5; ++id) puback = std::max(puback, Publish(ws, id));
  // The HTTPS device API, answered once the message is durable.
  TlsClient device(hub_->https_port(), certs_.ca_file);
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
  EXPECT_EQ(hub_->store().awaiting(), static_cast<size_t>(kPolls)) << "the polls were still waiting";

  // A message on the polled partition answers every poll at once.
  hub::TelemetryMessage m;
  m.device_id = coffre::testing::DeviceInPartition(hub_->store(), poll_partition_);
  m.body = ToBytes("wake");
  start = Clock::now();
  COFFRE_ASSERT_OK(coffre::testing::StoreThroughIngest(hub_->ingest(), {m}));
  for (auto& poll : polls) {
    auto page = poll->Read();
    EXPECT_EQ(page.result_int(), 200u);
    EXPECT_NE(page.body().find("\"messages\":[{"), std::string::npos) << page.body();
  }
  std::printf("the commit answered all %d polls within %.1f ms\n", kPolls, SecondsSince(start) * 1000);
  EXPECT_LT(SecondsSince(start), kNotBlocked);
}

TEST_F(HubHttpsTest, AKeyDisabledDuringLongPollsCutsWebSocketDevicesAtOnce) {
  MqttClient ws(hub_->https_port(), certs_.ca_file, /*websocket=*/true);
  ASSERT_GT(Connect(ws), 0);
  auto polls = OpenLongPolls();
  provider_.set_state(crypto::KeyState::kDisabled);
  auto start = Clock::now();
  hub_->monitor().CheckNow();  // the check that finds the key disabled
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
  std::thread rotation([&] { rotated = hub_->keys().Rewrap(slow); });
  ASSERT_TRUE(WaitFor([&] { return slow.entered(); }));
  MqttClient tls(hub_->mqtt_port(), certs_.ca_file, /*websocket=*/false);
  double during_rotation = Connect(tls);
  MqttClient ws(hub_->https_port(), certs_.ca_file, /*websocket=*/true);
  double ws_during_rotation = Connect(ws);
  slow.Release();
  rotation.join();
  COFFRE_EXPECT_OK(rotated);

  // An unlock (the key usable again) makes the same round trips; meanwhile CONNECTs are refused
  // (the keys are locked) without waiting for it.
  hub_->keys().Lock();
  SlowKeyProvider slow_unlock(provider_, std::chrono::seconds(5));
  Status unlocked;
  std::thread unlock([&] { unlocked = hub_->keys().Unlock(slow_unlock); });
  ASSERT_TRUE(WaitFor([&] { return slow_unlock.entered(); }));
  MqttClient refused(hub_->mqtt_port(), certs_.ca_file, /*websocket=*/false);
  double during_unlock = -Connect(refused);
  slow_unlock.Release();
  unlock.join();
  COFFRE_EXPECT_OK(unlocked);
  MqttClient after(hub_->mqtt_port(), certs_.ca_file, /*websocket=*/false);
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
  customer_key_ = &slow;  // the new key's vault
  Status set;
  std::thread change([&] {
    set = hub_->custody().UseCustomerKey(hub_->keys(), "https://vault.example/keys/hub-cmk",
                                         "hub-token", "");
  });
  ASSERT_TRUE(WaitFor([&] { return slow.entered(); }));
  MqttClient tls(hub_->mqtt_port(), certs_.ca_file, /*websocket=*/false);
  double during = Connect(tls);
  MqttClient ws(hub_->https_port(), certs_.ca_file, /*websocket=*/true);
  double ws_during = Connect(ws);
  slow.Release();
  change.join();
  COFFRE_EXPECT_OK(set);
  EXPECT_EQ(hub_->config().Get().key_uri, "https://vault.example/keys/hub-cmk");
  hub_.reset();  // stopped before the slow vault it now holds goes
  std::printf("CONNACK during an encryption set whose vault calls are held 5 s: MQTT %.1f ms, "
              "WebSocket %.1f ms\n", during * 1000, ws_during * 1000);
  EXPECT_GT(during, 0);
  EXPECT_LT(during, kNotBlocked);
  EXPECT_GT(ws_during, 0);
  EXPECT_LT(ws_during, kNotBlocked);
}

}  // namespace
}  // namespace coffre::hubapi
