#include "amqp/server.h"

#include <thread>

#include <boost/beast/core.hpp>

#include "amqp/claims.h"
#include "amqp/connection.h"
#include "amqp/device_links.h"
#include "amqp/eventhub_nodes.h"
#include "amqp/nodes.h"
#include "common/work_queue.h"
#include "hub/registry.h"
#include "net/certificates.h"
#include "net/http_upgrade.h"
#include "net/tls_listener.h"
#include "net/transport.h"

namespace coffre::amqp {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

struct AmqpServer::Impl {
  Impl(AmqpServerOptions o, HubParts p)
      : options(std::move(o)),
        parts(std::move(p)),
        tokens(parts.policies, &parts.devices, parts.host_names, parts.clock),
        shared(ConnectionLimits{}, parts),
        iocs(MakeContexts(options.threads)),
        ssl_ctx(ssl::context::tls_server),
        acceptor(*iocs.front()) {
    parts.tokens = &tokens;
    parts.receivers = &receivers;
    parts.device_links = &device_links;
    device_links.SetConnections(parts.connections);
    parts.work = &work;
    shared.accessible = options.accessible;
  }

  static std::vector<std::unique_ptr<asio::io_context>> MakeContexts(int n) {
    std::vector<std::unique_ptr<asio::io_context>> out;
    for (int i = 0; i < n; ++i) out.push_back(std::make_unique<asio::io_context>(1));
    return out;
  }

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

  AmqpServerOptions options;
  HubParts parts;
  TokenVerifier tokens;
  EventHubReceivers receivers;
  DeviceLinks device_links;
  // The nodes' blocking work (C2D enqueues, feedback reads and acknowledgements).
  WorkQueue work{"amqp-work", 4096};
  ServerShared shared;
  std::vector<std::unique_ptr<asio::io_context>> iocs;
  size_t next_context = 0;
  ssl::context ssl_ctx;
  tcp::acceptor acceptor;
  std::vector<std::thread> threads;
  uint16_t port = 0;
  bool stopped = false;
  bool listening = false;  // device_links registered with the registry
};

AmqpServer::AmqpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AmqpServer::~AmqpServer() { Stop(); }

uint16_t AmqpServer::port() const { return impl_->port; }

size_t AmqpServer::connections() const {
  std::lock_guard<std::mutex> guard(impl_->shared.mu);
  return impl_->shared.live.size();
}

void AmqpServer::AcceptWebSocket(std::unique_ptr<net::HttpUpgrade> upgrade) {
  std::string source = Impl::SourceOf(beast::get_lowest_layer(upgrade->stream).socket());
  if (source.empty() || !impl_->shared.admission.Admit(source)) return;
  std::make_shared<Connection>(
      net::MakeWebSocketTransport(std::move(upgrade), impl_->options.max_websocket_message_bytes,
                                  std::string(kWebSocketSubprotocol)),
      impl_->shared, std::move(source))
      ->Start();
}

DeviceLinks& AmqpServer::device_links() { return impl_->device_links; }

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
  if (options.threads <= 0) {
    options.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  auto impl = std::make_unique<Impl>(std::move(options), std::move(parts));
  COFFRE_RETURN_IF_ERROR(
      net::ConfigureServerTls(impl->ssl_ctx, impl->options.cert_file, impl->options.key_file));
  boost::system::error_code ec;
  impl->ssl_ctx.set_verify_mode(ssl::verify_peer, ec);
  impl->ssl_ctx.set_verify_callback([](bool, ssl::verify_context&) { return true; }, ec);
  if (ec) return Internal("TLS client certificate settings: " + ec.message());
  COFFRE_RETURN_IF_ERROR(net::Listen(impl->acceptor, impl->options.address, impl->options.port));
  impl->port = impl->acceptor.local_endpoint().port();
  impl->parts.amqp_port = impl->port;
  AddHubNodes(impl->shared.router, impl->parts);
  impl->Accept();
  impl->parts.registry.AddListener(impl->device_links);
  impl->listening = true;
  for (auto& ioc : impl->iocs) {
    impl->threads.emplace_back([ioc = ioc.get()] {
      auto busy = asio::make_work_guard(*ioc);
      ioc->run();
    });
  }
  return std::unique_ptr<AmqpServer>(new AmqpServer(std::move(impl)));
}

void AmqpServer::Stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  if (impl_->listening) impl_->parts.registry.RemoveListener(impl_->device_links);
  asio::post(impl_->acceptor.get_executor(), [this] {
    boost::system::error_code ignored;
    impl_->acceptor.close(ignored);
  });
  impl_->work.Stop();
  for (auto& ioc : impl_->iocs) ioc->stop();
  for (auto& t : impl_->threads) t.join();
}

}  // namespace coffre::amqp
