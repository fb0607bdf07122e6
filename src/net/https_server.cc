#include "net/https_server.h"

#include "net/http_upgrade.h"
#include "net/tls_listener.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <array>
#include <thread>
#include <vector>

namespace coffre::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
constexpr uint64_t kMaxDrainBytes = 64 << 20;  // beyond this, a client just gets reset

HttpResponse DefaultError(unsigned status, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::string(message) + "\n";
  return r;
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, ssl::context& ctx, const HttpsServerOptions& options,
          const HttpHandler& handler)
      : stream_(std::move(socket), ctx), options_(options), handler_(handler) {
    beast::error_code ec;
    auto ep = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string();
  }

  void Run() {
    // Start on the connection's strand.
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      beast::get_lowest_layer(self->stream_).expires_after(kHandshakeTimeout);
      self->stream_.async_handshake(
          ssl::stream_base::server,
          [self](beast::error_code ec) { if (!ec) self->Read(); });
    });
  }

 private:
  void Read() {
    parser_.emplace();
    // The limit is checked in OnHeader (so a declared oversize body can be drained first) and
    // set on the parser only then, for bodies of unknown length.
    parser_->body_limit(boost::none);
    parser_->header_limit(16 * 1024);
    beast::get_lowest_layer(stream_).expires_after(options_.idle_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              self->OnHeader(ec);
                            });
  }

  // A declared body over the limit is read and dropped, then answered 413 and the connection
  // closed: answering early, or closing with unread data (which makes the kernel send a reset),
  // can destroy the 413 before the client reads it.
  void OnHeader(beast::error_code ec) {
    if (ec) return OnRead(ec);
    auto length = parser_->content_length();
    if (length && *length > options_.max_body_bytes) {
      size_t buffered = std::min<size_t>(buffer_.size(), *length);
      drain_left_ = std::min<uint64_t>(*length - buffered, kMaxDrainBytes);
      buffer_.consume(buffer_.size());
      return DrainThenRefuse();
    }
    parser_->body_limit(options_.max_body_bytes);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code e, size_t) { self->OnRead(e); });
  }

  void DrainThenRefuse() {
    if (drain_left_ == 0) {
      return Refuse(413, "the request body is larger than " +
                             std::to_string(options_.max_body_bytes) + " bytes");
    }
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(10));
    stream_.async_read_some(asio::buffer(scratch_),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->drain_left_ -= std::min<uint64_t>(n, self->drain_left_);
                              if (ec) return self->Close();
                              self->DrainThenRefuse();
                            });
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted) {
      return Close();
    }
    if (ec == http::error::body_limit) {
      return Refuse(413, "the request body is larger than " +
                             std::to_string(options_.max_body_bytes) + " bytes");
    }
    if (ec) {
      if (ec.category() == http::make_error_code(http::error::bad_target).category()) {
        return Refuse(400, "malformed HTTP request");
      }
      return Close();
    }
    auto& msg = parser_->get();
    if (IsUpgradeForUs(msg)) return HandOver();
    HttpRequest req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    for (const auto& field : msg) {
      req.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    req.body = std::move(msg.body());
    req.remote_address = remote_;
    bool keep_alive = msg.keep_alive();
    Reply(handler_(req), keep_alive);
  }

  bool IsUpgradeForUs(const http::request<http::string_body>& msg) const {
    if (!options_.on_upgrade || !beast::websocket::is_upgrade(msg)) return false;
    std::string_view target = msg.target();
    return target.substr(0, target.find('?')) == options_.upgrade_path;
  }

  // The new owner sets its own timeouts; this session ends here.
  void HandOver() {
    beast::get_lowest_layer(stream_).expires_never();
    options_.on_upgrade(std::unique_ptr<HttpUpgrade>(
        new HttpUpgrade{std::move(stream_), parser_->release()}));
  }

  // Answers (and closes) a request no handler sees; on_refused hears of it.
  void Refuse(unsigned status, const std::string& message) {
    HttpResponse r = options_.error_response ? options_.error_response(status, message)
                                             : DefaultError(status, message);
    if (options_.on_refused) {
      HttpRequest req;
      if (parser_ && parser_->is_header_done()) {
        req.method = std::string(parser_->get().method_string());
        req.target = std::string(parser_->get().target());
      }
      req.remote_address = remote_;
      options_.on_refused(req, r);
    }
    Reply(std::move(r), false);
  }

  void Reply(HttpResponse r, bool keep_alive) {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->result(r.status);
    res->version(11);
    for (auto& [k, v] : r.headers) res->set(k, v);
    if (!r.body.empty() || r.status != 204) res->set(http::field::content_type, r.content_type);
    res->body() = std::move(r.body);
    res->keep_alive(keep_alive);
    res->prepare_payload();
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res, keep_alive](beast::error_code ec, size_t) {
                        if (ec || !keep_alive) return self->Close();
                        self->Read();
                      });
  }

  void Close() {
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(2));
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) {
      beast::error_code ignored;
      beast::get_lowest_layer(self->stream_).socket().close(ignored);
    });
  }

  beast::ssl_stream<beast::tcp_stream> stream_;
  const HttpsServerOptions& options_;
  const HttpHandler& handler_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string remote_;
  uint64_t drain_left_ = 0;
  std::array<char, 16384> scratch_{};
};

}  // namespace

struct HttpsServer::Impl {
  Impl(HttpsServerOptions o, HttpHandler h)
      : options(std::move(o)),
        handler(std::move(h)),
        ioc(options.threads),
        ssl_ctx(ssl::context::tls_server),
        acceptor(asio::make_strand(ioc)) {}

  void Accept() {
    acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket s) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      if (!ec) std::make_shared<Session>(std::move(s), ssl_ctx, options, handler)->Run();
      Accept();
    });
  }

  HttpsServerOptions options;
  HttpHandler handler;
  asio::io_context ioc;
  ssl::context ssl_ctx;
  tcp::acceptor acceptor;
  std::vector<std::thread> threads;
  uint16_t port = 0;
  bool stopped = false;
};

HttpsServer::HttpsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpsServer::~HttpsServer() { Stop(); }

uint16_t HttpsServer::port() const { return impl_->port; }

Result<std::unique_ptr<HttpsServer>> HttpsServer::Start(HttpsServerOptions options,
                                                        HttpHandler handler) {
  if (options.threads <= 0) {
    options.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  auto impl = std::make_unique<Impl>(std::move(options), std::move(handler));
  COFFRE_RETURN_IF_ERROR(
      ConfigureServerTls(impl->ssl_ctx, impl->options.cert_file, impl->options.key_file));
  COFFRE_RETURN_IF_ERROR(Listen(impl->acceptor, impl->options.address, impl->options.port));
  impl->port = impl->acceptor.local_endpoint().port();
  impl->Accept();
  for (int i = 0; i < impl->options.threads; ++i) {
    impl->threads.emplace_back([ioc = &impl->ioc] { ioc->run(); });
  }
  return std::unique_ptr<HttpsServer>(new HttpsServer(std::move(impl)));
}

void HttpsServer::Stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  asio::post(impl_->acceptor.get_executor(), [this] {
    beast::error_code ignored;
    impl_->acceptor.close(ignored);
  });
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
}

}  // namespace coffre::net
