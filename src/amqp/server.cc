#include "amqp/server.h"

#include <boost/beast/core.hpp>

#include "amqp/claims.h"
#include "amqp/connection.h"
#include "amqp/device_links.h"
#include "amqp/eventhub_nodes.h"
#include "amqp/nodes.h"
#include "common/work_queue.h"
#include "hub/registry.h"
#include "net/device_listener.h"
#include "net/http_upgrade.h"
#include "net/transport.h"

namespace coffre::amqp {

namespace asio = boost::asio;
namespace beast = boost::beast;

struct AmqpServer::Impl {
  Impl(AmqpServerOptions o, HubParts p)
      : options(std::move(o)),
        parts(std::move(p)),
        tokens(parts.policies, &parts.devices, parts.host_names, parts.clock),
        shared(ConnectionLimits{}, parts) {
    parts.tokens = &tokens;
    parts.receivers = &receivers;
    receivers.SetEpochsElsewhere(parts.epochs_elsewhere);
    parts.device_links = &device_links;
    device_links.SetConnections(parts.connections);
    parts.work = &work;
    shared.accessible = options.accessible;
  }

  AmqpServerOptions options;
  HubParts parts;
  TokenVerifier tokens;
  EventHubReceivers receivers;
  DeviceLinks device_links;
  // The nodes' blocking work (C2D enqueues, feedback reads and acknowledgements).
  WorkQueue work{"amqp-work", 4096};
  ServerShared shared;
  std::unique_ptr<net::DeviceListener> listener;  // the AMQPS port
  bool listening = false;  // device_links registered with the registry
};

AmqpServer::AmqpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AmqpServer::~AmqpServer() { Stop(); }

uint16_t AmqpServer::port() const { return impl_->listener->port(); }

size_t AmqpServer::connections() const {
  std::lock_guard<std::mutex> guard(impl_->shared.mu);
  return impl_->shared.live.size();
}

size_t AmqpServer::peak_unsent_bytes() const { return impl_->shared.peak_unsent.load(); }

void AmqpServer::AcceptWebSocket(std::unique_ptr<net::HttpUpgrade> upgrade) {
  std::string source =
      net::DeviceListener::SourceOf(beast::get_lowest_layer(upgrade->stream).socket());
  if (source.empty() || !impl_->shared.admission.Admit(source)) return;
  std::make_shared<Connection>(
      net::MakeWebSocketTransport(std::move(upgrade), impl_->options.max_websocket_message_bytes,
                                  std::string(kWebSocketSubprotocol)),
      impl_->shared, std::move(source), hub::Protocol::kAmqpWs)
      ->Start();
}

void AmqpServer::Accept(std::unique_ptr<net::Transport> transport, std::string source,
                        std::vector<Claim> claims) {
  if (!impl_->shared.admission.Admit(source)) return;
  auto c = std::make_shared<Connection>(std::move(transport), impl_->shared, std::move(source));
  for (Claim& claim : claims) c->claims().Add(std::move(claim));
  c->Start();
}

DeviceLinks& AmqpServer::device_links() { return impl_->device_links; }

EventHubReceivers& AmqpServer::event_hub_receivers() { return impl_->receivers; }

void AmqpServer::CloseAll(const std::string& why) {
  std::vector<std::shared_ptr<Connection>> all;
  {
    std::lock_guard<std::mutex> guard(impl_->shared.mu);
    for (auto& [raw, weak] : impl_->shared.live) {
      if (auto c = weak.lock()) all.push_back(std::move(c));
    }
  }
  for (auto& c : all) c->Kick(why);
}

Result<std::unique_ptr<AmqpServer>> AmqpServer::Start(AmqpServerOptions options, HubParts parts) {
  auto impl = std::make_unique<Impl>(std::move(options), std::move(parts));
  const AmqpServerOptions& o = impl->options;
  COFFRE_ASSIGN_OR_RETURN(impl->listener,
                          net::DeviceListener::Listen({o.address, o.port, o.cert_file, o.key_file,
                                                       o.threads, o.ticket_keys, o.certificates},
                                                      impl->shared.admission));
  impl->parts.amqp_port = impl->listener->port();
  AddHubNodes(impl->shared.router, impl->parts);
  Impl* raw = impl.get();
  impl->listener->Run([raw](asio::ip::tcp::socket socket, std::string source) {
    std::make_shared<Connection>(net::MakeTlsTransport(std::move(socket), raw->listener->tls()),
                                 raw->shared, std::move(source))
        ->Start();
  });
  impl->parts.registry.AddListener(impl->device_links);
  impl->listening = true;
  return std::unique_ptr<AmqpServer>(new AmqpServer(std::move(impl)));
}

void AmqpServer::Stop() {
  if (!impl_) return;
  if (impl_->listening) impl_->parts.registry.RemoveListener(impl_->device_links);
  impl_->listening = false;
  impl_->work.Stop();
  impl_->listener->Stop();
}

}  // namespace coffre::amqp
