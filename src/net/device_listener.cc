#include "net/device_listener.h"

#include <csignal>

#include "net/tls_listener.h"

namespace coffre::net {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

std::vector<std::unique_ptr<asio::io_context>> MakeContexts(int n) {
  std::vector<std::unique_ptr<asio::io_context>> out;
  for (int i = 0; i < n; ++i) out.push_back(std::make_unique<asio::io_context>(1));
  return out;
}

}  // namespace

DeviceListener::DeviceListener(int threads, Admission& admission)
    : admission_(admission),
      iocs_(MakeContexts(threads)),
      tls_(ssl::context::tls_server),
      acceptor_(*iocs_.front()) {}

DeviceListener::~DeviceListener() { Stop(); }

std::string DeviceListener::SourceOf(const tcp::socket& socket) {
  boost::system::error_code ec;
  tcp::endpoint peer = socket.remote_endpoint(ec);
  return ec ? "" : peer.address().to_string();
}

Result<std::unique_ptr<DeviceListener>> DeviceListener::Listen(DeviceListenerOptions options,
                                                               Admission& admission) {
  if (options.threads <= 0) {
    options.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  // OpenSSL writes this listener's sockets itself (tls_socket_transport.cc) with write(2), not
  // Asio's send(MSG_NOSIGNAL): a peer gone mid-handshake would end the process with SIGPIPE
  // instead of an EPIPE for that connection. No part of Coffre uses SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  std::unique_ptr<DeviceListener> l(new DeviceListener(options.threads, admission));
  COFFRE_ASSIGN_OR_RETURN(l->certificates_,
                          CertificatesOrFiles(options.certificates, options.cert_file,
                                              options.key_file));
  COFFRE_RETURN_IF_ERROR(ConfigureServerTls(l->tls_, *l->certificates_, options.ticket_keys));
  // Ask for a client certificate (X.509 devices) without requiring or verifying it here.
  boost::system::error_code ec;
  l->tls_.set_verify_mode(ssl::verify_peer, ec);
  l->tls_.set_verify_callback([](bool, ssl::verify_context&) { return true; }, ec);
  if (ec) return Internal("TLS client certificate settings: " + ec.message());
  // A client may resume its TLS session on reconnect. With a client certificate requested,
  // OpenSSL refuses (fails the handshake) a resumption on a context without a session id
  // context; the resumed session keeps the certificate the device first showed.
  static constexpr unsigned char kSessionContext[] = "coffre-device";
  if (SSL_CTX_set_session_id_context(l->tls_.native_handle(), kSessionContext,
                                     sizeof(kSessionContext) - 1) != 1) {
    return Internal("TLS session id context");
  }
  COFFRE_RETURN_IF_ERROR(net::Listen(l->acceptor_, options.address, options.port));
  l->port_ = l->acceptor_.local_endpoint().port();
  return l;
}

void DeviceListener::Run(OnAccept on_accept) {
  on_accept_ = std::move(on_accept);
  Accept();
  for (auto& ioc : iocs_) {
    threads_.emplace_back([ioc = ioc.get()] {
      auto busy = asio::make_work_guard(*ioc);  // serve until Stop, even with no connection
      ioc->run();
    });
  }
}

void DeviceListener::Accept() {
  asio::io_context& next = *iocs_[next_context_++ % iocs_.size()];
  acceptor_.async_accept(next, [this](boost::system::error_code ec, tcp::socket s) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      std::string source = SourceOf(s);
      // Past the caps on unauthenticated connections: closed before TLS costs anything.
      if (source.empty() || !admission_.Admit(source)) {
        boost::system::error_code ignored;
        s.close(ignored);
      } else {
        s.set_option(tcp::no_delay(true), ec);
        on_accept_(std::move(s), std::move(source));
      }
    }
    Accept();
  });
}

void DeviceListener::Stop() {
  if (stopped_) return;
  stopped_ = true;
  asio::post(acceptor_.get_executor(), [this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  });
  for (auto& ioc : iocs_) ioc->stop();
  for (auto& t : threads_) t.join();
}

}  // namespace coffre::net
