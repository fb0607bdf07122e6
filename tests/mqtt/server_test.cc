// MqttServer end to end over TLS on a loopback port: the hub's real registry, authenticator,
// sealed telemetry store and group commit behind it.
#include "mqtt/server.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <openssl/pem.h>

#include "common/encoding.h"
#include "crypto/ossl.h"
#include "fakes/fake_key_provider.h"
#include "hub/sas_token.h"
#include "mqtt/codec.h"
#include "mqtt/websocket_options.h"
#include "net/certificates.h"
#include "net/https_server.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"

namespace coffre::mqtt {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

// A blocking MQTT-over-TLS client, just enough for the test.
class Client {
 public:
  Client(uint16_t port, const std::filesystem::path& ca, const net::PemCertificate* identity = nullptr)
      : ctx_(Context(ca, identity)), stream_(ioc_, ctx_) {
    stream_.set_verify_mode(ssl::verify_peer);
    stream_.set_verify_callback(ssl::host_name_verification("localhost"));
    stream_.lowest_layer().connect({asio::ip::make_address("127.0.0.1"), port});
    stream_.handshake(ssl::stream_base::client);
  }
  void Send(const Bytes& b) { asio::write(stream_, asio::buffer(b)); }

  // Trusts the stack's CA; an X.509 device also presents its certificate.
  static ssl::context Context(const std::filesystem::path& ca, const net::PemCertificate* identity) {
    ssl::context ctx(ssl::context::tls_client);
    ctx.load_verify_file(ca.string());
    if (identity != nullptr) {
      ctx.use_certificate(asio::buffer(identity->cert_pem), ssl::context::pem);
      ctx.use_private_key(asio::buffer(identity->key_pem), ssl::context::pem);
    }
    return ctx;
  }
  // The next packet, or nullopt when the server closed the connection.
  std::optional<Packet> Receive() {
    for (;;) {
      auto d = DecodePacket(buffer_, 1 << 20);
      if (d.has_value() && d->has_value()) {
        last_ = Bytes(buffer_.begin(), buffer_.begin() + (*d)->size);
        buffer_.erase(buffer_.begin(), buffer_.begin() + (*d)->size);
        return std::move(*DecodePacket(last_, 1 << 20).value()).packet;
      }
      std::array<char, 4096> chunk;
      boost::system::error_code ec;
      size_t n = stream_.read_some(asio::buffer(chunk), ec);
      if (ec) return std::nullopt;
      buffer_.insert(buffer_.end(), reinterpret_cast<std::byte*>(chunk.data()),
                     reinterpret_cast<std::byte*>(chunk.data()) + n);
    }
  }

 private:
  asio::io_context ioc_;
  ssl::context ctx_;
  ssl::stream<tcp::socket> stream_;
  Bytes buffer_;
  Bytes last_;
};

// A blocking MQTT-over-WebSocket client as the SDKs' MqttWs transport is: wss, subprotocol
// "mqtt", binary messages.
class WsClient {
 public:
  WsClient(uint16_t port, const std::filesystem::path& ca, std::string subprotocol = "mqtt")
      : ctx_(Client::Context(ca, nullptr)), ws_(ioc_, ctx_) {
    auto& tls = ws_.next_layer();
    tls.set_verify_mode(ssl::verify_peer);
    tls.set_verify_callback(ssl::host_name_verification("localhost"));
    beast::get_lowest_layer(ws_).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    tls.handshake(ssl::stream_base::client);
    ws_.set_option(websocket::stream_base::decorator([subprotocol](websocket::request_type& r) {
      if (!subprotocol.empty()) r.set(beast::http::field::sec_websocket_protocol, subprotocol);
    }));
    ws_.binary(true);
  }
  boost::system::error_code Handshake(websocket::response_type& response) {
    boost::system::error_code ec;
    ws_.handshake(response, "localhost", std::string(kWebSocketPath), ec);
    return ec;
  }
  void Send(const Bytes& b) { ws_.write(asio::buffer(b)); }
  void SendText(std::string_view text) {
    ws_.text(true);
    ws_.write(asio::buffer(text));
  }
  std::optional<Packet> Receive() {
    for (;;) {
      auto d = DecodePacket(buffer_, 1 << 20);
      if (d.has_value() && d->has_value()) {
        Bytes packet(buffer_.begin(), buffer_.begin() + (*d)->size);
        buffer_.erase(buffer_.begin(), buffer_.begin() + (*d)->size);
        last_ = std::move(packet);
        return std::move(*DecodePacket(last_, 1 << 20).value()).packet;
      }
      beast::flat_buffer message;
      boost::system::error_code ec;
      ws_.read(message, ec);
      if (ec) return std::nullopt;
      auto* data = static_cast<const std::byte*>(message.data().data());
      buffer_.insert(buffer_.end(), data, data + message.size());
    }
  }

 private:
  asio::io_context ioc_;
  ssl::context ctx_;
  websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws_;
  Bytes buffer_;
  Bytes last_;
};

class MqttServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    certs_ = std::move(net::EnsureStackCertificates(dir_.path() / "tls", {}).value());
    kv_ = std::move(storage::RocksKvStore::Open(dir_.path() / "meta").value());
    keys_ = std::move(hub::HubKeys::Open(*kv_, provider_).value());
    registry_ = std::make_unique<hub::Registry>(*kv_, *keys_, [] { return int64_t{0}; });
    hub::DeviceIdentity d;
    d.device_id = "dev-01";
    device_ = std::move(registry_->Create(d).value());
    hub::TelemetryStoreOptions options;
    options.hub_name = "localhost";
    options.log.segment_bytes = 1 << 20;
    store_ = std::move(hub::TelemetryStore::Open(dir_.path() / "telemetry", *keys_, options).value());
    ingest_ = std::make_unique<hub::TelemetryIngest>(*store_);
    auth_ = std::make_unique<hub::DeviceAuthenticator>(
        *registry_, std::vector<std::string>{"localhost"}, [] { return int64_t{1'800'000'000}; });
    MqttServerOptions so;
    so.port = 0;
    so.cert_file = certs_.cert_file;
    so.key_file = certs_.key_file;
    so.threads = 2;
    server_ = std::move(MqttServer::Start(so, *auth_, *ingest_, *registry_).value());
  }
  // The HTTPS port, as coffre-hub wires it: WebSocket upgrades of /$iothub/websocket go to the
  // MQTT server, everything else gets 404 here.
  void StartHttps() {
    net::HttpsServerOptions ho;
    ho.port = 0;
    ho.cert_file = certs_.cert_file;
    ho.key_file = certs_.key_file;
    ho.threads = 2;
    ho.upgrade_path = kWebSocketPath;
    ho.on_upgrade = server_->WebSocketHandler();
    https_ = std::move(net::HttpsServer::Start(ho, [](const net::HttpRequest&) {
                         net::HttpResponse r;
                         r.status = 404;
                         return r;
                       }).value());
  }
  void TearDown() override {
    https_.reset();
    server_.reset();
    ingest_.reset();
  }
  Bytes ConnectPacket(const std::string& key_b64) {
    auto key = std::move(crypto::SecretBytes::CopyOf(*Base64Decode(key_b64)).value());
    token_ = *hub::MakeSasToken("localhost/devices/dev-01", key, 1'800'003'600);
    Connect c;
    c.clean_session = false;
    c.keep_alive = 180;
    c.client_id = "dev-01";
    c.username = "localhost/dev-01/?api-version=2021-04-12";
    c.password = AsBytes(token_);
    Bytes out;
    EncodeConnect(out, c);
    return out;
  }

  testing::TempDir dir_;
  testing::FakeKeyProvider provider_;
  net::StackCertificates certs_;
  std::unique_ptr<storage::RocksKvStore> kv_;
  std::unique_ptr<hub::HubKeys> keys_;
  std::unique_ptr<hub::Registry> registry_;
  hub::DeviceIdentity device_;
  std::unique_ptr<hub::TelemetryStore> store_;
  std::unique_ptr<hub::TelemetryIngest> ingest_;
  std::unique_ptr<hub::DeviceAuthenticator> auth_;
  std::unique_ptr<MqttServer> server_;
  std::unique_ptr<net::HttpsServer> https_;
  std::string token_;
};

TEST_F(MqttServerTest, DeviceConnectsSendsTelemetryAndGetsPubackAfterItIsStored) {
  Client c(server_->port(), certs_.ca_file);
  c.Send(ConnectPacket(device_.primary_key));
  auto connack = c.Receive();
  ASSERT_TRUE(connack.has_value());
  EXPECT_EQ(std::get<ConnAck>(*connack).code, ConnectCode::kAccepted);
  Bytes batch;
  for (uint16_t id = 1; id <= 20; ++id) {
    std::string body = "{\"n\":" + std::to_string(id) + "}";
    EncodePublish(batch, {false, 1, false, "devices/dev-01/messages/events/%24.mid=m" + std::to_string(id), id,
                          AsBytes(body)});
  }
  c.Send(batch);
  for (uint16_t id = 1; id <= 20; ++id) {
    auto ack = c.Receive();
    ASSERT_TRUE(ack.has_value());
    EXPECT_EQ(std::get<PacketIdOnly>(*ack).packet_id, id);
  }
  int p = store_->PartitionOf("dev-01");
  auto stored = std::move(store_->Read(p, 0, 100, SIZE_MAX).value());
  ASSERT_EQ(stored.size(), 20u);
  EXPECT_EQ(AsChars(stored[19].message.body), "{\"n\":20}");
  EXPECT_TRUE(registry_->Get("dev-01")->connected);
}

TEST_F(MqttServerTest, BadTokenGetsConnackFiveAClosedConnectionAndALogLine) {
  ::testing::internal::CaptureStderr();
  Client c(server_->port(), certs_.ca_file);
  Bytes other(32, std::byte{3});
  c.Send(ConnectPacket(Base64Encode(other)));
  auto connack = c.Receive();
  ASSERT_TRUE(connack.has_value());
  EXPECT_EQ(std::get<ConnAck>(*connack).code, ConnectCode::kNotAuthorized);
  EXPECT_FALSE(c.Receive().has_value());
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(log, ::testing::HasSubstr("mqtt: 127.0.0.1:"));
  EXPECT_THAT(log, ::testing::HasSubstr("CONNECT of client 'dev-01' refused: UNAUTHENTICATED"));
  EXPECT_THAT(log, ::testing::Not(::testing::HasSubstr(token_))) << "no credentials in the log";
}

TEST_F(MqttServerTest, ANewConnectionOfTheSameDeviceClosesTheOlderOne) {
  Client first(server_->port(), certs_.ca_file);
  first.Send(ConnectPacket(device_.primary_key));
  ASSERT_TRUE(first.Receive().has_value());
  Client second(server_->port(), certs_.ca_file);
  second.Send(ConnectPacket(device_.secondary_key));
  ASSERT_TRUE(second.Receive().has_value());
  EXPECT_FALSE(first.Receive().has_value()) << "the older connection must be closed";
  Bytes ping;
  EncodeBare(ping, {PacketType::kPingReq});
  second.Send(ping);
  auto pong = second.Receive();
  ASSERT_TRUE(pong.has_value());
  EXPECT_EQ(TypeOf(*pong), PacketType::kPingResp);
}

TEST_F(MqttServerTest, MqttOverWebSocketOnTheHttpsPortStoresAndAcknowledges) {
  StartHttps();
  WsClient c(https_->port(), certs_.ca_file);
  websocket::response_type response;
  ASSERT_FALSE(c.Handshake(response));
  EXPECT_EQ(response[beast::http::field::sec_websocket_protocol], "mqtt");
  // CONNECT and the first PUBLISHes in one WebSocket message, the rest one per message.
  Bytes first = ConnectPacket(device_.primary_key);
  for (uint16_t id = 1; id <= 3; ++id) {
    EncodePublish(first, {false, 1, false, "devices/dev-01/messages/events/", id, AsBytes("ws")});
  }
  c.Send(first);
  auto connack = c.Receive();
  ASSERT_TRUE(connack.has_value());
  EXPECT_EQ(std::get<ConnAck>(*connack).code, ConnectCode::kAccepted);
  for (uint16_t id = 4; id <= 10; ++id) {
    Bytes one;
    EncodePublish(one, {false, 1, false, "devices/dev-01/messages/events/", id, AsBytes("ws")});
    c.Send(one);
  }
  for (uint16_t id = 1; id <= 10; ++id) {
    auto ack = c.Receive();
    ASSERT_TRUE(ack.has_value());
    EXPECT_EQ(std::get<PacketIdOnly>(*ack).packet_id, id);
  }
  auto stored = std::move(store_->Read(store_->PartitionOf("dev-01"), 0, 100, SIZE_MAX).value());
  EXPECT_EQ(stored.size(), 10u);
}

TEST_F(MqttServerTest, WebSocketWithoutTheMqttSubprotocolIsRefused) {
  StartHttps();
  WsClient c(https_->port(), certs_.ca_file, "");
  websocket::response_type response;
  EXPECT_TRUE(c.Handshake(response));
  EXPECT_EQ(response.result(), beast::http::status::bad_request);
}

TEST_F(MqttServerTest, ATextWebSocketMessageClosesTheConnection) {
  StartHttps();
  WsClient c(https_->port(), certs_.ca_file);
  websocket::response_type response;
  ASSERT_FALSE(c.Handshake(response));
  c.SendText("CONNECT");
  EXPECT_FALSE(c.Receive().has_value());
}

TEST_F(MqttServerTest, AWebSocketDeviceTakesOverItsTlsConnection) {
  StartHttps();
  Client tls(server_->port(), certs_.ca_file);
  tls.Send(ConnectPacket(device_.primary_key));
  ASSERT_TRUE(tls.Receive().has_value());
  WsClient ws(https_->port(), certs_.ca_file);
  websocket::response_type response;
  ASSERT_FALSE(ws.Handshake(response));
  ws.Send(ConnectPacket(device_.primary_key));
  auto connack = ws.Receive();
  ASSERT_TRUE(connack.has_value());
  EXPECT_EQ(std::get<ConnAck>(*connack).code, ConnectCode::kAccepted);
  EXPECT_FALSE(tls.Receive().has_value()) << "the older connection must be closed";
}

std::string Sha256Thumbprint(const std::string& pem) {
  crypto::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  crypto::X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  X509_digest(cert.get(), EVP_sha256(), digest, &len);
  return HexEncode(ByteSpan(reinterpret_cast<const std::byte*>(digest), len));
}

TEST_F(MqttServerTest, AnX509DeviceConnectsWithItsCertificateThumbprint) {
  auto cert = std::move(net::GenerateCertificateAuthority("cam-1", 3650).value());
  hub::DeviceIdentity cam;
  cam.device_id = "cam-1";
  cam.auth_type = hub::AuthType::kSelfSigned;
  cam.primary_thumbprint = Sha256Thumbprint(cert.cert_pem);
  COFFRE_ASSERT_OK(registry_->Create(cam).status());
  Connect c;
  c.client_id = "cam-1";
  c.username = "localhost/cam-1/?api-version=2021-04-12";
  Bytes connect;
  EncodeConnect(connect, c);

  Client with_cert(server_->port(), certs_.ca_file, &cert);
  with_cert.Send(connect);
  auto accepted = with_cert.Receive();
  ASSERT_TRUE(accepted.has_value());
  EXPECT_EQ(std::get<ConnAck>(*accepted).code, ConnectCode::kAccepted);

  auto other = std::move(net::GenerateCertificateAuthority("cam-1", 3650).value());
  Client wrong_cert(server_->port(), certs_.ca_file, &other);
  wrong_cert.Send(connect);
  auto refused = wrong_cert.Receive();
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(std::get<ConnAck>(*refused).code, ConnectCode::kNotAuthorized);

  Client no_cert(server_->port(), certs_.ca_file);
  no_cert.Send(connect);
  auto no_password = no_cert.Receive();
  ASSERT_TRUE(no_password.has_value());
  EXPECT_EQ(std::get<ConnAck>(*no_password).code, ConnectCode::kBadUsernameOrPassword);
}

}  // namespace
}  // namespace coffre::mqtt
