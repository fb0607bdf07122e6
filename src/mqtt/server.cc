#include "mqtt/server.h"

#include <boost/beast/core.hpp>

#include "mqtt/connection.h"
#include "mqtt/websocket_path.h"
#include "net/device_listener.h"
#include "net/http_upgrade.h"
#include "net/transport.h"

namespace coffre::mqtt {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

// The TLS port (net::DeviceListener: one single-threaded io_context per thread, connections
// handed out in turn, admission at accept) and what every connection shares.
struct MqttServer::Impl : hub::IdentityListener {
  Impl(MqttServerOptions o, hub::DeviceAuthenticator& auth, hub::TelemetryIngest& ingest,
       hub::Registry& registry, hub::Quotas* quotas)
      : options(std::move(o)), shared(options, auth, ingest, registry, quotas) {}

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
  std::unique_ptr<net::DeviceListener> listener;
  bool stopped = false;
  bool listening = false;  // registered with the registry
};

MqttServer::MqttServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MqttServer::~MqttServer() { Stop(); }

uint16_t MqttServer::port() const { return impl_->listener->port(); }

void MqttServer::AcceptWebSocket(std::unique_ptr<net::HttpUpgrade> upgrade) {
  std::string source =
      net::DeviceListener::SourceOf(beast::get_lowest_layer(upgrade->stream).socket());
  // Past the caps on unauthenticated connections: the upgrade goes unanswered, closed.
  if (source.empty() || !impl_->shared.admission.Admit(source)) return;
  // A WebSocket message carries one or more MQTT packets; bound it at twice the largest packet.
  size_t max_message = impl_->options.limits.max_packet_bytes * 2;
  std::make_shared<Connection>(
      net::MakeWebSocketTransport(std::move(upgrade), max_message, std::string(kSubprotocol)),
      impl_->shared, std::move(source), hub::Protocol::kMqttWs)
      ->Start();
}

net::UpgradeHandler MqttServer::WebSocketHandler() {
  return [this](std::unique_ptr<net::HttpUpgrade> upgrade) { AcceptWebSocket(std::move(upgrade)); };
}

static std::shared_ptr<Connection> Find(ServerShared& shared, const std::string& key) {
  std::lock_guard<std::mutex> guard(shared.mu);
  auto it = shared.by_identity.find(key);
  return it == shared.by_identity.end() ? nullptr : it->second.lock();
}

bool MqttServer::DeliverMethod(const hub::TwinId& target, std::string_view name,
                               std::string_view rid, std::string_view payload) {
  std::shared_ptr<Connection> c = Find(impl_->shared, hub::IdentityKeyOf(target));
  return c && c->DeliverMethod(name, rid, payload);
}

void MqttServer::SendDesired(const hub::TwinId& target, const std::string& patch, int64_t version) {
  if (std::shared_ptr<Connection> c = Find(impl_->shared, hub::IdentityKeyOf(target))) {
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
  auto impl = std::make_unique<Impl>(std::move(options), auth, ingest, registry, quotas);
  const MqttServerOptions& o = impl->options;
  COFFRE_ASSIGN_OR_RETURN(impl->listener,
                          net::DeviceListener::Listen({o.address, o.port, o.cert_file, o.key_file,
                                                       o.threads, o.ticket_keys, o.certificates},
                                                      impl->shared.admission));
  registry.AddListener(*impl);
  impl->listening = true;
  Impl* raw = impl.get();
  impl->listener->Run([raw](tcp::socket socket, std::string source) {
    std::make_shared<Connection>(net::MakeTlsTransport(std::move(socket), raw->listener->tls()),
                                 raw->shared, std::move(source), hub::Protocol::kMqtt)
        ->Start();
  });
  return std::unique_ptr<MqttServer>(new MqttServer(std::move(impl)));
}

void MqttServer::Stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  if (impl_->listening) impl_->shared.registry.RemoveListener(*impl_);
  impl_->listener->Stop();
}

}  // namespace coffre::mqtt
