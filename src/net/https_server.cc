#include "net/https_server.h"

#include "net/http_upgrade.h"
#include "net/tls_listener.h"

#include <cxxabi.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <shared_mutex>
#include <random>
#include <thread>
#include <typeinfo>
#include <unordered_map>
#include <vector>

#include "common/log.h"

namespace coffre::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;  // not coffre::Clock: deadlines only

namespace {

// Request ids: a random prefix per process, then a counter ("3f9a01c2-1a"): unique across the
// process's life and its restarts, short enough for a log line.
std::string NextRequestId() {
  static const std::string prefix = [] {
    std::random_device random;
    char text[16];
    std::snprintf(text, sizeof text, "%08x", static_cast<unsigned>(random()));
    return std::string(text);
  }();
  static std::atomic<uint64_t> counter{0};
  char text[40];
  std::snprintf(text, sizeof text, "%s-%llx", prefix.c_str(),
                static_cast<unsigned long long>(++counter));
  return text;
}

constexpr uint64_t kMaxDrainBytes = 64 << 20;  // beyond this, a client just gets reset
constexpr auto kLingerTimeout = std::chrono::seconds(2);
constexpr size_t kScratchBytes = 16384;
constexpr auto kShutdownTimeout = std::chrono::seconds(2);
constexpr auto kAcceptRetry = std::chrono::milliseconds(100);

HttpResponse DefaultError(unsigned status, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::string(message) + "\n";
  return r;
}

// "std::runtime_error": the dynamic type only. An exception's message can quote the request
// (a JSON parser's "last read: ..."), which may carry a credential, so it stays out of the log.
std::string TypeName(const std::type_info& type) {
  int status = 0;
  char* demangled = abi::__cxa_demangle(type.name(), nullptr, nullptr, &status);
  std::string name = status == 0 && demangled != nullptr ? demangled : type.name();
  std::free(demangled);
  return name;
}

}  // namespace

// Guards posting to the io context: Stop() closes it, after which no answer touches the
// server (whose io context may be gone by the time a late answer comes).
struct Gate {
  std::shared_mutex mu;
  bool open = true;  // guarded by mu
};

// The connection counts behind the caps. Thread-safe.
class ConnectionCounts {
 public:
  ConnectionCounts(size_t max_connections, size_t max_unproven, size_t max_unproven_per_source)
      : max_connections_(max_connections),
        max_unproven_(max_unproven),
        max_per_source_(max_unproven_per_source) {}

  // A new connection from `source`, unproven: false if a cap refuses it.
  bool Admit(const std::string& source) {
    std::lock_guard<std::mutex> guard(mu_);
    auto it = unproven_by_source_.find(source);
    size_t from_source = it == unproven_by_source_.end() ? 0 : it->second;
    if (connections_ >= max_connections_ || unproven_ >= max_unproven_ ||
        from_source >= max_per_source_) {
      return false;
    }
    ++connections_;
    ++unproven_;
    ++unproven_by_source_[source];
    return true;
  }
  void Prove(const std::string& source) {
    std::lock_guard<std::mutex> guard(mu_);
    --unproven_;
    auto it = unproven_by_source_.find(source);
    if (--it->second == 0) unproven_by_source_.erase(it);
  }
  void Leave() {
    std::lock_guard<std::mutex> guard(mu_);
    --connections_;
  }
  size_t connections() const {
    std::lock_guard<std::mutex> guard(mu_);
    return connections_;
  }
  size_t unproven() const {
    std::lock_guard<std::mutex> guard(mu_);
    return unproven_;
  }

 private:
  const size_t max_connections_, max_unproven_, max_per_source_;
  mutable std::mutex mu_;
  size_t connections_ = 0;
  size_t unproven_ = 0;
  std::unordered_map<std::string, size_t> unproven_by_source_;
};

// What every session shares; owned by the server's Impl, alive until its io context is gone.
struct ServerShared {
  ServerShared(HttpsServerOptions o, AsyncHttpHandler h)
      : options(std::move(o)),
        handler(std::move(h)),
        counts(options.max_connections, options.max_unproven_connections,
               options.max_unproven_per_source) {}
  HttpsServerOptions options;
  AsyncHttpHandler handler;
  ConnectionCounts counts;
  std::shared_ptr<Gate> gate = std::make_shared<Gate>();
};

// One answer. `post` runs a builder where the answer belongs (the connection's strand, or at
// once for the callback form) and hands the result to `deliver`.
struct HttpResponder::State {
  std::atomic<bool> answered{false};
  std::function<void(std::function<HttpResponse()>)> post;
  // Every copy dropped unanswered: a null builder asks for the server's own 500.
  ~State() {
    if (!answered.exchange(true) && post) post(nullptr);
  }
};

HttpResponder::HttpResponder(std::function<void(HttpResponse)> deliver)
    : state_(std::make_shared<State>()) {
  state_->post = [deliver = std::move(deliver)](std::function<HttpResponse()> build) {
    deliver(build ? build() : DefaultError(500, "the request was dropped without an answer"));
  };
}

void HttpResponder::Send(HttpResponse response) const {
  if (state_->answered.exchange(true)) return;
  state_->post([r = std::move(response)]() mutable { return std::move(r); });
}

void HttpResponder::SendLater(std::function<HttpResponse()> build) const {
  if (state_->answered.exchange(true)) return;
  state_->post(std::move(build));
}

bool HttpResponder::answered() const { return state_->answered.load(); }

HttpResponder HttpResponder::Tapped(std::function<void(const HttpResponse&)> tap) const {
  auto tapped = std::make_shared<State>();
  tapped->post = [inner = state_, tap = std::move(tap)](std::function<HttpResponse()> build) {
    if (inner->answered.exchange(true)) return;
    if (!build) return inner->post(nullptr);  // dropped: the server's own 500, untapped
    inner->post([build = std::move(build), tap] {
      HttpResponse r = build();
      tap(r);
      return r;
    });
  };
  return HttpResponder(std::move(tapped));
}

AsyncHttpHandler Synchronous(HttpHandler handler) {
  return [handler = std::move(handler)](HttpRequest request, HttpResponder respond) {
    respond.Send(handler(request));
  };
}

namespace {

// What follows a response: the next request, a polite close, or a lingering one.
enum class After { kKeepAlive, kClose, kLinger };

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::string remote, ssl::context& ctx, ServerShared& shared)
      : stream_(std::move(socket), ctx),
        shared_(shared),
        options_(shared.options),
        buffer_(options_.max_header_bytes + 4096),
        response_timer_(stream_.get_executor()),
        remote_(std::move(remote)) {}

  ~Session() {
    if (!proven_) shared_.counts.Prove(remote_);
    if (counted_) shared_.counts.Leave();
  }

  void Run() {
    // Start on the connection's strand.
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      beast::get_lowest_layer(self->stream_).expires_after(self->options_.handshake_timeout);
      self->stream_.async_handshake(ssl::stream_base::server, [self](beast::error_code ec) {
        if (ec) return self->Abort();
        self->ReadRequest(/*first=*/true);
      });
    });
  }

 private:
  // Keep-alive: an idle connection gets idle_timeout to start its next request; from its first
  // byte (or the handshake's end) the whole header must come within header_timeout.
  void ReadRequest(bool first) {
    parser_.emplace();
    // The body limit is checked in OnHeader (so a declared oversize body can be drained first)
    // and set on the parser only then, for bodies of unknown length.
    parser_->body_limit(boost::none);
    parser_->header_limit(static_cast<uint32_t>(options_.max_header_bytes));
    if (first || buffer_.size() > 0) return ReadHeader();
    auto& tcp_stream = beast::get_lowest_layer(stream_);
    tcp_stream.expires_after(options_.idle_timeout);
    stream_.async_read_some(buffer_.prepare(1024),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              if (ec) return self->Abort();
                              self->buffer_.commit(n);
                              self->ReadHeader();
                            });
  }

  void ReadHeader() {
    beast::get_lowest_layer(stream_).expires_after(options_.header_timeout);
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
      uint64_t left = std::min<uint64_t>(*length - buffered, kMaxDrainBytes);
      buffer_.consume(buffer_.size());
      std::string message = "the request body is larger than " +
                            std::to_string(options_.max_body_bytes) + " bytes";
      return Drain(left, SteadyClock::now() + options_.body_timeout,
                   [message](Session& s) { s.Refuse(413, message, After::kClose); });
    }
    parser_->body_limit(options_.max_body_bytes);
    beast::get_lowest_layer(stream_).expires_after(options_.body_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code e, size_t) { self->OnRead(e); });
  }

  // Reads and drops up to `left` bytes until `deadline`, then calls `then` (not if the
  // connection failed or timed out meanwhile).
  void Drain(uint64_t left, SteadyClock::time_point deadline, std::function<void(Session&)> then) {
    if (left == 0) return then(*this);
    beast::get_lowest_layer(stream_).expires_at(deadline);
    scratch_.resize(kScratchBytes);
    stream_.async_read_some(asio::buffer(scratch_),
                            [self = shared_from_this(), left, deadline, then = std::move(then)](
                                beast::error_code ec, size_t n) mutable {
                              if (ec) return self->Abort();
                              self->Drain(left - std::min<uint64_t>(n, left), deadline,
                                          std::move(then));
                            });
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted) {
      return Abort();
    }
    if (ec == http::error::body_limit) {
      return Refuse(413, "the request body is larger than " +
                             std::to_string(options_.max_body_bytes) + " bytes", After::kLinger);
    }
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      return Refuse(431, "the request header is larger than " +
                             std::to_string(options_.max_header_bytes) + " bytes", After::kLinger);
    }
    if (ec) {
      if (ec.category() == http::make_error_code(http::error::bad_target).category()) {
        return Refuse(400, "malformed HTTP request", After::kLinger);
      }
      return Abort();
    }
    Prove();
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
    Dispatch(std::move(req), msg.keep_alive());
  }

  // The request is complete: it leaves the unproven count.
  void Prove() {
    if (proven_) return;
    proven_ = true;
    shared_.counts.Prove(remote_);
  }

  // Hands the request to the handler, which answers now or later through the responder; until
  // it does, the response timer keeps this session alive (and bounds the wait).
  void Dispatch(HttpRequest req, bool keep_alive) {
    keep_alive_ = keep_alive;
    request_id_ = NextRequestId();
    req.request_id = request_id_;
    std::string what = "request " + request_id_ + " " + req.method + " " +
                       LogSafe(req.target.substr(0, req.target.find('?')));
    what_ = what;
    auto state = std::make_shared<HttpResponder::State>();
    std::weak_ptr<Session> weak = shared_from_this();
    state->post = [weak, gate = shared_.gate, what](std::function<HttpResponse()> build) {
      std::shared_lock<std::shared_mutex> open(gate->mu);
      if (!gate->open) return;
      auto self = weak.lock();
      if (!self) return;  // the connection is gone
      asio::post(self->stream_.get_executor(), [self, build = std::move(build), what] {
        self->Answer(self->Build(build, what));
      });
    };
    current_ = state;
    uint64_t id = ++requests_;
    response_timer_.expires_after(options_.response_timeout);
    response_timer_.async_wait([self = shared_from_this(), id](beast::error_code ec) {
      // Cancelled (answered), or expired just as this request was answered.
      if (ec || id != self->requests_) return;
      auto pending = self->current_.lock();
      if (!pending || pending->answered.exchange(true)) return;
      LogLine(self->options_.log_name,
              self->remote_ + ": " + self->what_ + ": no answer within the response timeout");
      self->Answer(self->ErrorResponse(503, "the request was not answered in time"));
    });
    HttpResponder respond(std::move(state));
    try {
      shared_.handler(std::move(req), respond);
    } catch (const std::exception& e) {
      respond.Send(Failed(what, TypeName(typeid(e))));
    } catch (...) {
      respond.Send(Failed(what, "an exception of unknown type"));
    }
  }

  // Runs a late answer's builder on this strand; a throw becomes a 500.
  HttpResponse Build(const std::function<HttpResponse()>& build, const std::string& what) {
    if (!build) {
      LogLine(options_.log_name, remote_ + ": " + what + " was dropped without an answer");
      return ErrorResponse(500, "The server could not handle the request.");
    }
    try {
      return build();
    } catch (const std::exception& e) {
      return Failed(what, TypeName(typeid(e)));
    } catch (...) {
      return Failed(what, "an exception of unknown type");
    }
  }

  // The last line of defence: one log line (method and path; never the query, headers or
  // body, which can carry credentials) and the API's 500.
  HttpResponse Failed(const std::string& what, const std::string& type) {
    LogLine(options_.log_name, remote_ + ": " + what + " failed: the handler threw " + type);
    return ErrorResponse(500, "The server could not handle the request.");
  }

  HttpResponse ErrorResponse(unsigned status, std::string_view message) {
    if (options_.error_response) {
      try {
        return options_.error_response(status, message);
      } catch (...) {
      }
    }
    return DefaultError(status, message);
  }

  // On the strand, once per request.
  void Answer(HttpResponse r) {
    response_timer_.cancel();
    current_.reset();
    r.headers.emplace_back("x-ms-request-id", request_id_);
    // A server-side failure is worth a line an operator can find by the id the client got. A
    // 503 is the daemon saying it is busy or full, which it logs once itself: one line per such
    // request would flood the log exactly when the disk is full.
    if (r.status >= 500 && r.status != 503) {
      LogLine(options_.log_name, remote_ + ": " + what_ + " answered " + std::to_string(r.status));
    }
    Reply(std::move(r), keep_alive_ ? After::kKeepAlive : After::kClose);
  }

  bool IsUpgradeForUs(const http::request<http::string_body>& msg) const {
    if (!options_.on_upgrade || !beast::websocket::is_upgrade(msg)) return false;
    std::string_view target = msg.target();
    std::string_view path = target.substr(0, target.find('?'));
    for (const std::string& p : options_.upgrade_paths) {
      if (path == p) return true;
    }
    return false;
  }

  // The new owner sets its own deadlines; this session ends here, and the connection leaves the
  // server's counts.
  void HandOver() {
    beast::get_lowest_layer(stream_).expires_never();
    if (counted_) {
      counted_ = false;
      shared_.counts.Leave();
    }
    try {
      options_.on_upgrade(std::unique_ptr<HttpUpgrade>(
          new HttpUpgrade{std::move(stream_), parser_->release()}));
    } catch (const std::exception& e) {
      LogLine(options_.log_name, remote_ + ": the WebSocket upgrade threw " + TypeName(typeid(e)));
    } catch (...) {
      LogLine(options_.log_name, remote_ + ": the WebSocket upgrade threw");
    }
  }

  // Answers (and closes) a request no handler sees; on_refused hears of it.
  void Refuse(unsigned status, const std::string& message, After after) {
    HttpResponse r = ErrorResponse(status, message);
    if (options_.on_refused) {
      HttpRequest req;
      if (parser_ && parser_->is_header_done()) {
        req.method = std::string(parser_->get().method_string());
        req.target = std::string(parser_->get().target());
      }
      req.remote_address = remote_;
      try {
        options_.on_refused(req, r);
      } catch (...) {
      }
    }
    Reply(std::move(r), after);
  }

  void Reply(HttpResponse r, After after) {
    bool keep_alive = after == After::kKeepAlive;
    auto res = std::make_shared<http::response<http::string_body>>();
    res->result(r.status);
    res->version(11);
    for (auto& [k, v] : r.headers) res->set(k, v);
    if (!r.body.empty() || r.status != 204) res->set(http::field::content_type, r.content_type);
    res->body() = std::move(r.body);
    res->keep_alive(keep_alive);
    res->prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(options_.write_timeout);
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res, after](beast::error_code ec, size_t) {
                        if (ec) return self->Abort();
                        if (after == After::kClose) return self->Close();
                        if (after == After::kLinger) return self->Linger();
                        self->ReadRequest(/*first=*/false);
                      });
  }

  // After refusing a request whose rest was not read: stop sending (the client sees the answer,
  // then the end), and read and drop what it still sends for a while, so that closing with
  // unread data (which makes the kernel send a reset) cannot destroy the answer first.
  void Linger() {
    auto& lowest = beast::get_lowest_layer(stream_);
    beast::error_code ignored;
    lowest.socket().shutdown(tcp::socket::shutdown_send, ignored);
    lowest.expires_after(kLingerTimeout);
    scratch_.resize(kScratchBytes);
    LingerRead();
  }
  void LingerRead() {
    beast::get_lowest_layer(stream_).async_read_some(
        asio::buffer(scratch_), [self = shared_from_this()](beast::error_code ec, size_t) {
          if (ec) return self->Abort();
          self->LingerRead();
        });
  }

  // A polite end: TLS close_notify (bounded), then the socket.
  void Close() {
    beast::get_lowest_layer(stream_).expires_after(kShutdownTimeout);
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) { self->Abort(); });
  }

  // An end without ceremony: for a connection that failed, timed out or went away.
  void Abort() {
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().close(ignored);
  }

  beast::ssl_stream<beast::tcp_stream> stream_;
  ServerShared& shared_;
  const HttpsServerOptions& options_;
  beast::flat_buffer buffer_;
  asio::steady_timer response_timer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::weak_ptr<HttpResponder::State> current_;  // the request being answered
  std::string remote_;
  bool keep_alive_ = false;
  uint64_t requests_ = 0;  // requests dispatched on this connection
  std::string request_id_;  // of the request being answered
  std::string what_;        // "request ID METHOD PATH", for its log lines
  bool proven_ = false;
  bool counted_ = true;
  std::vector<char> scratch_;  // for dropping bytes; allocated only when a refusal needs it
};

}  // namespace

struct HttpsServer::Impl {
  Impl(HttpsServerOptions o, AsyncHttpHandler h)
      : shared(std::move(o), std::move(h)),
        options(shared.options),
        ioc(options.threads),
        ssl_ctx(ssl::context::tls_server),
        acceptor(asio::make_strand(ioc)),
        retry(acceptor.get_executor()) {}

  void Accept() {
    acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket s) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      if (ec) {
        // Out of file descriptors, say: try again shortly instead of spinning.
        retry.expires_after(kAcceptRetry);
        retry.async_wait([this](beast::error_code e) {
          if (!e) Accept();
        });
        return;
      }
      beast::error_code peer_ec;
      auto peer = s.remote_endpoint(peer_ec);
      std::string remote = peer_ec ? std::string() : peer.address().to_string();
      if (shared.counts.Admit(remote)) {
        std::make_shared<Session>(std::move(s), std::move(remote), ssl_ctx, shared)->Run();
      } else {
        // Over a cap: closed before the handshake costs anything.
        beast::error_code ignored;
        s.set_option(asio::socket_base::linger(true, 0), ignored);
        s.close(ignored);
      }
      Accept();
    });
  }

  ServerShared shared;  // before ioc: sessions use it until the io context is gone
  const HttpsServerOptions& options;
  asio::io_context ioc;
  std::shared_ptr<ServerCertificates> certificates;  // outlives ssl_ctx, which calls it
  ssl::context ssl_ctx;
  tcp::acceptor acceptor;
  asio::steady_timer retry;
  std::vector<std::thread> threads;
  uint16_t port = 0;
  bool stopped = false;
};

HttpsServer::HttpsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpsServer::~HttpsServer() { Stop(); }

uint16_t HttpsServer::port() const { return impl_->port; }
size_t HttpsServer::connections() const { return impl_->shared.counts.connections(); }
size_t HttpsServer::unproven_connections() const { return impl_->shared.counts.unproven(); }

Result<std::unique_ptr<HttpsServer>> HttpsServer::Start(HttpsServerOptions options,
                                                        HttpHandler handler) {
  return Start(std::move(options), Synchronous(std::move(handler)));
}

Result<std::unique_ptr<HttpsServer>> HttpsServer::Start(HttpsServerOptions options,
                                                        AsyncHttpHandler handler) {
  if (options.threads <= 0) {
    options.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  auto impl = std::make_unique<Impl>(std::move(options), std::move(handler));
  COFFRE_ASSIGN_OR_RETURN(impl->certificates,
                          CertificatesOrFiles(impl->options.certificates, impl->options.cert_file,
                                              impl->options.key_file));
  COFFRE_RETURN_IF_ERROR(
      ConfigureServerTls(impl->ssl_ctx, *impl->certificates, impl->options.ticket_keys));
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
  {
    // From here on a late answer does nothing: the io context stops, and may soon be gone.
    std::unique_lock<std::shared_mutex> close(impl_->shared.gate->mu);
    impl_->shared.gate->open = false;
  }
  asio::post(impl_->acceptor.get_executor(), [this] {
    beast::error_code ignored;
    impl_->acceptor.close(ignored);
    impl_->retry.cancel();
  });
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
}

}  // namespace coffre::net
