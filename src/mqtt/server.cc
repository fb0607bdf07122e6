#include "mqtt/server.h"

#include <thread>

#include <boost/beast/core.hpp>

#include "mqtt/connection.h"
#include "mqtt/websocket_path.h"
#include "net/transport.h"
#include "net/http_upgrade.h"
#include "net/tls_listener.h"

namespace coffre::mqtt {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

// One single-threaded io_context per thread, connections handed out in turn: a connection's
// events, its PUBACK hand-offs and its writes all stay on one thread, with no locking inside
// Asio and no waking of a second thread to run a handler the first one received.
struct MqttServer::Impl : hub::IdentityListener {
  Impl(MqttServerOptions o, hub::DeviceAuthenticator& auth, hub::TelemetryIngest& ingest,
       hub::Registry& registry, hub::Quotas* quotas)
      : options(std::move(o)),
        shared(options, auth, ingest, registry, quotas),
        iocs(MakeContexts(options.threads)),
        ssl_ctx(ssl::context::tls_server),
        acceptor(*iocs.front()) {}

  static std::vector<std::unique_ptr<asio::io_context>> MakeContexts(int n) {
    std::vector<std::unique_ptr<asio::io_context>> out;
    for (int i = 0; i < n; ++i) out.push_back(std::make_unique<asio::io_context>(1));
    return out;
  }

  // The source a connection's limits count against: its IP address (no port).
  static std::string SourceOf(const tcp::socket& socket) {
    boost::system::error_code ec;
    tcp::endpoint peer = socket.remote_endpoint(ec);
    return ec ? "" : peer.address().to_string();
  }

  void Accept() {
    asio::io_context& next = *iocs[next_context++ % iocs.size()];
    acceptor.async_accept(next, [this](boost::system::error_code ec, tcp::socket s) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      if (!ec) {
        std::string source = SourceOf(s);
        // Past the caps on unauthenticated connections: closed before TLS costs anything.
        if (source.empty() || !shared.admission.Admit(source)) {
          boost::system::error_code ignored;
          s.close(ignored);
        } else {
          s.set_option(tcp::no_delay(true), ec);
          std::make_shared<Connection>(net::MakeTlsTransport(std::move(s), ssl_ctx), shared,
                                       std::move(source))
              ->Start();
        }
      }
      Accept();
    });
  }

  // The registry changed an identity: each of its sessions (a device's include its modules')
  // re-checks its credentials on its strand. The counter catches sessions that authenticated
  // meanwhile but were not in the table yet (Connection::Register).
  void IdentityChanged(const std::string& device_id,
                       const std::optional<std::string>& module_id) override {
    shared.identity_changes.fetch_add(1);
    std::vector<std::shared_ptr<Connection>> affected;
    {
      std::lock_guard<std::mutex> guard(shared.mu);
      auto take = [&](auto it) {
        if (auto c = it->second.lock()) affected.push_back(std::move(c));
      };
      if (module_id) {
        auto it = shared.by_identity.find(device_id + "/" + *module_id);
        if (it != shared.by_identity.end()) take(it);
      } else {
        auto it = shared.by_identity.find(device_id);
        if (it != shared.by_identity.end()) take(it);
        std::string modules = device_id + "/";
        for (it = shared.by_identity.lower_bound(modules);
             it != shared.by_identity.end() && it->first.starts_with(modules); ++it) {
          take(it);
        }
      }
    }
    for (auto& c : affected) c->Recheck();
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
  bool listening = false;  // registered with the registry
};

MqttServer::MqttServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MqttServer::~MqttServer() { Stop(); }

uint16_t MqttServer::port() const { return impl_->port; }

void MqttServer::AcceptWebSocket(std::unique_ptr<net::HttpUpgrade> upgrade) {
  std::string source = Impl::SourceOf(beast::get_lowest_layer(upgrade->stream).socket());
  // Past the caps on unauthenticated connections: the upgrade goes unanswered, closed.
  if (source.empty() || !impl_->shared.admission.Admit(source)) return;
  // A WebSocket message carries one or more MQTT packets; bound it at twice the largest packet.
  size_t max_message = impl_->options.limits.max_packet_bytes * 2;
  std::make_shared<Connection>(
      net::MakeWebSocketTransport(std::move(upgrade), max_message, std::string(kSubprotocol)),
      impl_->shared, std::move(source))
      ->Start();
}

net::UpgradeHandler MqttServer::WebSocketHandler() {
  return [this](std::unique_ptr<net::HttpUpgrade> upgrade) { AcceptWebSocket(std::move(upgrade)); };
}

namespace {

std::string IdentityKeyOf(const hub::TwinId& id) {
  return id.module_id ? id.device_id + "/" + *id.module_id : id.device_id;
}

}  // namespace

static std::shared_ptr<Connection> Find(ServerShared& shared, const std::string& key) {
  std::lock_guard<std::mutex> guard(shared.mu);
  auto it = shared.by_identity.find(key);
  return it == shared.by_identity.end() ? nullptr : it->second.lock();
}

bool MqttServer::DeliverMethod(const hub::TwinId& target, std::string_view name,
                               std::string_view rid, std::string_view payload) {
  std::shared_ptr<Connection> c = Find(impl_->shared, IdentityKeyOf(target));
  return c && c->DeliverMethod(name, rid, payload);
}

void MqttServer::SendDesired(const hub::TwinId& target, const std::string& patch, int64_t version) {
  if (std::shared_ptr<Connection> c = Find(impl_->shared, IdentityKeyOf(target))) {
    c->SendDesired(patch, version);
  }
}

void MqttServer::C2dWaiting(const std::string& device_id) {
  if (std::shared_ptr<Connection> c = Find(impl_->shared, device_id)) c->PullC2d();
}

void MqttServer::CloseAll() {
  std::vector<std::shared_ptr<Connection>> all;
  {
    std::lock_guard<std::mutex> guard(impl_->shared.mu);
    for (auto& [identity, weak] : impl_->shared.by_identity) {
      if (auto c = weak.lock()) all.push_back(std::move(c));
    }
  }
  for (auto& c : all) c->Kick();
}

size_t MqttServer::connections() const {
  std::lock_guard<std::mutex> guard(impl_->shared.mu);
  return impl_->shared.by_identity.size();
}

size_t MqttServer::unauthenticated() const { return impl_->shared.admission.pending(); }

Result<std::unique_ptr<MqttServer>> MqttServer::Start(MqttServerOptions options,
                                                      hub::DeviceAuthenticator& auth,
                                                      hub::TelemetryIngest& ingest,
                                                      hub::Registry& registry,
                                                      hub::Quotas* quotas) {
  if (options.threads <= 0) {
    options.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  auto impl = std::make_unique<Impl>(std::move(options), auth, ingest, registry, quotas);
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
  registry.AddListener(*impl);
  impl->listening = true;
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
  if (impl_->listening) impl_->shared.registry.RemoveListener(*impl_);
  asio::post(impl_->acceptor.get_executor(), [this] {
    boost::system::error_code ignored;
    impl_->acceptor.close(ignored);
  });
  for (auto& ioc : impl_->iocs) ioc->stop();
  for (auto& t : impl_->threads) t.join();
}

}  // namespace coffre::mqtt
