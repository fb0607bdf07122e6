#pragma once
// The MqttServer test fixture: the whole hub (HubService) on loopback ports, so the MQTT server
// runs with the hub's real registry, authenticator, sealed telemetry store and group commit
// behind it and MQTT over WebSocket on the HTTPS port; and blocking clients for both transports.

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <openssl/pem.h>

#include <chrono>
#include <thread>

#include "common/clock.h"
#include "common/encoding.h"
#include "crypto/ossl.h"
#include "hub/quotas.h"
#include "hub/sas_token.h"
#include "hubservice/hub_service.h"
#include "hubservice/test_hub_options.h"
#include "mqtt/codec.h"
#include "mqtt/server.h"
#include "mqtt/websocket_options.h"
#include "net/certificates.h"
#include "net/https_server.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"

namespace coffre::mqtt {

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
  // Sends, ignoring errors (the server may have closed already).
  bool TrySend(const Bytes& b) {
    boost::system::error_code ec;
    asio::write(stream_, asio::buffer(b), ec);
    return !ec;
  }

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
  // The next packet, or nullopt when the server closed the connection (or nothing came for
  // `timeout`: a hung test fails instead of hanging).
  std::optional<Packet> Receive(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    for (;;) {
      auto d = DecodePacket(buffer_, 1 << 20);
      if (d.has_value() && d->has_value()) {
        last_ = Bytes(buffer_.begin(), buffer_.begin() + (*d)->size);
        buffer_.erase(buffer_.begin(), buffer_.begin() + (*d)->size);
        return std::move(*DecodePacket(last_, 1 << 20).value()).packet;
      }
      std::array<char, 4096> chunk;
      boost::system::error_code ec = asio::error::would_block;
      size_t n = 0;
      stream_.async_read_some(asio::buffer(chunk), [&](boost::system::error_code e, size_t k) {
        ec = e;
        n = k;
      });
      ioc_.restart();
      ioc_.run_for(timeout);
      if (ec == asio::error::would_block) {
        boost::system::error_code ignored;
        stream_.lowest_layer().cancel(ignored);
        ioc_.restart();
        ioc_.run();
        return std::nullopt;
      }
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
  bool TrySend(const Bytes& b) {
    boost::system::error_code ec;
    ws_.write(asio::buffer(b), ec);
    return !ec;
  }
  void SendText(std::string_view text) {
    ws_.text(true);
    ws_.write(asio::buffer(text));
  }
  std::optional<Packet> Receive(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    for (;;) {
      auto d = DecodePacket(buffer_, 1 << 20);
      if (d.has_value() && d->has_value()) {
        Bytes packet(buffer_.begin(), buffer_.begin() + (*d)->size);
        buffer_.erase(buffer_.begin(), buffer_.begin() + (*d)->size);
        last_ = std::move(packet);
        return std::move(*DecodePacket(last_, 1 << 20).value()).packet;
      }
      beast::flat_buffer message;
      boost::system::error_code ec = asio::error::would_block;
      ws_.async_read(message, [&](boost::system::error_code e, size_t) { ec = e; });
      ioc_.restart();
      ioc_.run_for(timeout);
      if (ec == asio::error::would_block) {
        boost::system::error_code ignored;
        beast::get_lowest_layer(ws_).socket().cancel(ignored);
        ioc_.restart();
        ioc_.run();
        return std::nullopt;
      }
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

// The whole hub as coffre-hub runs it, one HubService in-process on free ports: the MQTT
// server over TLS with the hub's real registry, authenticator, sealed telemetry store and group
// commit behind it, and MQTT over WebSocket on its HTTPS port.
class MqttServerTest : public ::testing::Test {
 protected:
  // The MQTT server's options: a test changes them, then calls RestartServer(). The hub sets the
  // certificate and key.
  MqttServerOptions Options() {
    MqttServerOptions so;
    so.port = 0;
    so.threads = 2;
    return so;
  }
  // Restarts the whole hub on the same directory (the registry and telemetry stay) with these
  // MQTT options and device-to-cloud quota (by default none).
  void RestartServer(MqttServerOptions so, hub::QuotaOptions quotas = {{.per_second = 0}}) {
    hub_.reset();  // HubService's stop order
    hubservice::HubOptions o = testing::TestHubOptions(dir_.path() / "hub", certs_);
    o.mqtt = std::move(so);
    o.quotas = quotas;
    hub_ = std::move(hubservice::HubService::Start(std::move(o)).value());
    registry_ = &hub_->registry();
    store_ = &hub_->store();
    server_ = &hub_->mqtt();
    device_ = registry_->Get("dev-01").value();
  }
  void SetUp() override {
    certs_ = std::move(net::EnsureStackCertificates(dir_.path() / "tls", {}).value());
    RestartServer(Options());
  }
  void TearDown() override { hub_.reset(); }
  Bytes ConnectPacket(const std::string& key_b64, const std::string& device = "dev-01",
                      uint16_t keep_alive_s = 180) {
    auto key = std::move(crypto::SecretBytes::CopyOf(*Base64Decode(key_b64)).value());
    int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    token_ = *hub::MakeSasToken("localhost/devices/" + device, key, now + 3600);
    username_ = "localhost/" + device + "/?api-version=2021-04-12";
    Connect c;  // views into device, username_ and token_
    c.clean_session = false;
    c.keep_alive = keep_alive_s;
    c.client_id = device;
    c.username = username_;
    c.password = AsBytes(token_);
    Bytes out;
    EncodeConnect(out, c);
    return out;
  }
  // Registers cam-1, an X.509 (selfSigned) device with a new certificate's SHA-256 thumbprint;
  // returns the certificate and sets `connect` to its password-less CONNECT.
  net::PemCertificate CreateX509Device(Bytes& connect) {
    auto cert = std::move(net::GenerateCertificateAuthority("cam-1", 3650).value());
    hub::DeviceIdentity cam;
    cam.device_id = "cam-1";
    cam.auth_type = hub::AuthType::kSelfSigned;
    cam.primary_thumbprint = Sha256Thumbprint(cert.cert_pem);
    EXPECT_TRUE(registry_->Create(cam).has_value());
    Connect c;
    c.client_id = "cam-1";
    c.username = "localhost/cam-1/?api-version=2021-04-12";
    EncodeConnect(connect, c);
    return cert;
  }
  static std::string Sha256Thumbprint(const std::string& pem) {
    crypto::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    crypto::X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    X509_digest(cert.get(), EVP_sha256(), digest, &len);
    return HexEncode(ByteSpan(reinterpret_cast<const std::byte*>(digest), len));
  }
  // Messages stored for `device`.
  size_t Stored(const std::string& device = "dev-01") {
    return store_->Read(store_->PartitionOf(device), 0, 100000, SIZE_MAX).value().size();
  }

  testing::TempDir dir_;
  net::StackCertificates certs_;
  std::unique_ptr<hubservice::HubService> hub_;
  hub::Registry* registry_ = nullptr;      // hub_'s
  hub::TelemetryStore* store_ = nullptr;   // hub_'s
  MqttServer* server_ = nullptr;           // hub_'s
  hub::DeviceIdentity device_;
  std::string token_;
  std::string username_;
};

// A QoS 1 PUBLISH of `body` on the device's events topic.
inline Bytes Publish1(uint16_t id, std::string_view body, const std::string& device = "dev-01") {
  Bytes out;
  EncodePublish(out, {false, 1, false, "devices/" + device + "/messages/events/", id, AsBytes(body)});
  return out;
}

// Seconds since `start`, for printing.
inline double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Waits (bounded) until `done()` holds.
template <class F>
bool WaitFor(F done, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}


}  // namespace coffre::mqtt
