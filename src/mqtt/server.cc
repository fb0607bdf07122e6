#include "mqtt/server.h"

#include <thread>

#include "mqtt/connection.h"
#include "mqtt/transport.h"
#include "net/http_upgrade.h"
#include "net/tls_listener.h"

namespace coffre::mqtt {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

// One single-threaded io_context per thread, connections handed out in turn: a connection's
// events, its PUBACK hand-offs and its writes all stay on one thread, with no locking inside
// Asio and no waking of a second thread to run a handler the first one received.
struct MqttServer::Impl {
  Impl(MqttServerOptions o, hub::DeviceAuthenticator& auth, hub::TelemetryIngest& ingest,
       hub::Registry& registry)
      : options(std::move(o)),
        shared{auth, ingest, registry, options.limits, {}, {}},
        iocs(MakeContexts(options.threads)),
        ssl_ctx(ssl::context::tls_server),
        acceptor(*iocs.front()) {}

  static std::vector<std::unique_ptr<asio::io_context>> MakeContexts(int n) {
    std::vector<std::unique_ptr<asio::io_context>> out;
    for (int i = 0; i < n; ++i) out.push_back(std::make_unique<asio::io_context>(1));
    return out;
  }

  void Accept() {
    asio::io_context& next = *iocs[next_context++ % iocs.size()];
    acceptor.async_accept(next, [this](boost::system::error_code ec, tcp::socket s) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      if (!ec) {
        boost::system::error_code ignored;
        s.set_option(tcp::no_delay(true), ignored);
        std::make_shared<Connection>(MakeTlsTransport(std::move(s), ssl_ctx), shared)->Start();
      }
      Accept();
    });
  }

  MqttServerOptions options;
  ServerShared shared;
  std::vector<std::unique_ptr<asio::io_context>> iocs;
  size_t next_context = 0;  // on the acceptor's thread only
  ssl::context ssl_ctx;
  tcp::acceptor acceptor;
  std::vector<std::thread> threads;
  uint16_t port = 0;
  bool stopped = false;
};

MqttServer::MqttServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MqttServer::~MqttServer() { Stop(); }

uint16_t MqttServer::port() const { return impl_->port; }

void MqttServer::AcceptWebSocket(std::unique_ptr<net::HttpUpgrade> upgrade) {
  // A WebSocket message carries one or more MQTT packets; bound it at twice the largest packet.
  size_t max_message = impl_->options.limits.max_packet_bytes * 2;
  std::make_shared<Connection>(MakeWebSocketTransport(std::move(upgrade), max_message),
                               impl_->shared)
      ->Start();
}

net::UpgradeHandler MqttServer::WebSocketHandler() {
  return [this](std::unique_ptr<net::HttpUpgrade> upgrade) { AcceptWebSocket(std::move(upgrade)); };
}

void MqttServer::CloseAll() {
  std::vector<std::shared_ptr<Connection>> all;
  {
    std::lock_guard<std::mutex> guard(impl_->shared.mu);
    for (auto& [device, weak] : impl_->shared.by_device) {
      if (auto c = weak.lock()) all.push_back(std::move(c));
    }
  }
  for (auto& c : all) c->Kick();
}

size_t MqttServer::connections() const {
  std::lock_guard<std::mutex> guard(impl_->shared.mu);
  return impl_->shared.by_device.size();
}

Result<std::unique_ptr<MqttServer>> MqttServer::Start(MqttServerOptions options,
                                                      hub::DeviceAuthenticator& auth,
                                                      hub::TelemetryIngest& ingest,
                                                      hub::Registry& registry) {
  if (options.threads <= 0) {
    options.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  auto impl = std::make_unique<Impl>(std::move(options), auth, ingest, registry);
  COFFRE_RETURN_IF_ERROR(
      net::ConfigureServerTls(impl->ssl_ctx, impl->options.cert_file, impl->options.key_file));
  // Ask for a client certificate (X.509 devices) without requiring or verifying it here.
  boost::system::error_code ec;
  impl->ssl_ctx.set_verify_mode(ssl::verify_peer, ec);
  impl->ssl_ctx.set_verify_callback([](bool, ssl::verify_context&) { return true; }, ec);
  if (ec) return Internal("TLS client certificate settings: " + ec.message());
  COFFRE_RETURN_IF_ERROR(net::Listen(impl->acceptor, impl->options.address, impl->options.port));
  impl->port = impl->acceptor.local_endpoint().port();
  impl->Accept();
  for (auto& ioc : impl->iocs) {
    impl->threads.emplace_back([ioc = ioc.get()] {
      auto busy = asio::make_work_guard(*ioc);  // serve until Stop, even with no connection
      ioc->run();
    });
  }
  return std::unique_ptr<MqttServer>(new MqttServer(std::move(impl)));
}

void MqttServer::Stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  asio::post(impl_->acceptor.get_executor(), [this] {
    boost::system::error_code ignored;
    impl_->acceptor.close(ignored);
  });
  for (auto& ioc : impl_->iocs) ioc->stop();
  for (auto& t : impl_->threads) t.join();
}

}  // namespace coffre::mqtt
