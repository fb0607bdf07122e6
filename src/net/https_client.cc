#include "net/https_client.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <optional>

#include "common/numbers.h"
#include "net/tls_listener.h"

namespace coffre::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

Result<Origin> ParseOrigin(std::string_view url) {
  Origin o;
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return InvalidArgument("not a URL: " + std::string(url));
  o.scheme = std::string(url.substr(0, scheme_end));
  if (o.scheme != "https") return InvalidArgument("only https URLs are supported: " + std::string(url));
  std::string_view authority = url.substr(scheme_end + 3);
  authority = authority.substr(0, authority.find('/'));
  COFFRE_ASSIGN_OR_RETURN(HostPort host_port,
                          ParseHostPort(authority, "the URL " + std::string(url), o.port));
  o.host = std::move(host_port.host);
  o.port = host_port.port;
  return o;
}

struct HttpsClient::Impl {
  explicit Impl(HttpsClientOptions o) : options(std::move(o)), ctx(ssl::context::tls_client) {}

  // Runs the io_context until the pending operation completes or the request's deadline passes.
  Status RunUntilDone(beast::error_code& ec, bool& done, std::string_view what) {
    ioc.restart();
    ioc.run_until(deadline + std::chrono::milliseconds(100));
    if (!done) {
      stream.reset();
      return DeadlineExceeded(std::string(what) + " " + options.origin.ToString() + " timed out");
    }
    if (ec == beast::error::timeout) {
      stream.reset();
      return DeadlineExceeded(std::string(what) + " " + options.origin.ToString() + " timed out");
    }
    if (ec) {
      stream.reset();
      return Unavailable(std::string(what) + " " + options.origin.ToString() + ": " + ec.message());
    }
    return Status::Ok();
  }

  Status Connect() {
    stream.emplace(ioc, ctx);
    if (!SSL_set_tlsext_host_name(stream->native_handle(), options.origin.host.c_str())) {
      return Internal("set TLS server name");
    }
    stream->set_verify_callback(ssl::host_name_verification(options.origin.host));
    tcp::resolver resolver(ioc);
    beast::error_code ec;
    auto endpoints = resolver.resolve(options.origin.host, std::to_string(options.origin.port), ec);
    if (ec) return Unavailable("resolve " + options.origin.host + ": " + ec.message());
    bool done = false;
    beast::get_lowest_layer(*stream).expires_at(deadline);
    beast::get_lowest_layer(*stream).async_connect(
        endpoints, [&](beast::error_code e, const tcp::endpoint&) { ec = e; done = true; });
    COFFRE_RETURN_IF_ERROR(RunUntilDone(ec, done, "connect to"));
    done = false;
    beast::get_lowest_layer(*stream).expires_at(deadline);
    stream->async_handshake(ssl::stream_base::client, [&](beast::error_code e) {
      ec = e;
      done = true;
    });
    COFFRE_RETURN_IF_ERROR(RunUntilDone(ec, done, "TLS handshake with"));
    X509* shown = SSL_get0_peer_certificate(stream->native_handle());
    Result<CertificateInfo> info = shown ? DescribeCertificate(shown) : NotFound("no certificate");
    server_certificate = info.has_value() ? std::optional(*info) : std::nullopt;
    return Status::Ok();
  }

  Result<HttpResponse> Exchange(http::request<http::string_body>& req) {
    beast::error_code ec;
    bool done = false;
    beast::get_lowest_layer(*stream).expires_at(deadline);
    http::async_write(*stream, req, [&](beast::error_code e, size_t) { ec = e; done = true; });
    COFFRE_RETURN_IF_ERROR(RunUntilDone(ec, done, "send to"));
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    done = false;
    http::async_read(*stream, buffer, parser, [&](beast::error_code e, size_t) { ec = e; done = true; });
    COFFRE_RETURN_IF_ERROR(RunUntilDone(ec, done, "read from"));
    auto& msg = parser.get();
    HttpResponse out;
    out.status = msg.result_int();
    for (const auto& f : msg) out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    out.content_type = std::string(msg[http::field::content_type]);
    out.body = std::move(msg.body());
    // The reply may carry key material (an unwrapped key): drop the read buffer's storage rather
    // than keep old bytes in it across requests.
    buffer.clear();
    buffer.shrink_to_fit();
    if (!msg.keep_alive()) stream.reset();
    return out;
  }

  HttpsClientOptions options;
  // One deadline for a whole request (connect, handshake, send, read, and the retry), so a
  // server that stops answering costs `timeout`, not a timeout per step.
  std::chrono::steady_clock::time_point deadline;
  asio::io_context ioc;
  ssl::context ctx;
  std::optional<beast::ssl_stream<beast::tcp_stream>> stream;
  std::optional<CertificateInfo> server_certificate;
  beast::flat_buffer buffer;
};

HttpsClient::HttpsClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpsClient::~HttpsClient() = default;

const std::optional<CertificateInfo>& HttpsClient::server_certificate() const {
  return impl_->server_certificate;
}

Result<std::unique_ptr<HttpsClient>> HttpsClient::Create(HttpsClientOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  beast::error_code ec;
  ConfigureTlsHygiene(impl->ctx);
  impl->ctx.set_verify_mode(ssl::verify_peer);
  if (!impl->options.ca_pem.empty()) {
    impl->ctx.add_certificate_authority(asio::buffer(impl->options.ca_pem), ec);
    if (ec) return InvalidArgument("CA certificates (PEM): " + ec.message());
  } else if (impl->options.ca_file.empty()) {
    impl->ctx.set_default_verify_paths(ec);
  } else {
    impl->ctx.load_verify_file(impl->options.ca_file.string(), ec);
  }
  if (ec) return InvalidArgument("CA file " + impl->options.ca_file.string() + ": " + ec.message());
  return std::unique_ptr<HttpsClient>(new HttpsClient(std::move(impl)));
}

Result<HttpResponse> HttpsClient::Send(std::string_view method, std::string_view target,
                                       const HttpHeaders& headers, std::string_view body) {
  http::request<http::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(http::field::host, impl_->options.origin.host + ":" + std::to_string(impl_->options.origin.port));
  req.set(http::field::user_agent, "coffre");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = std::string(body);
  req.keep_alive(true);
  req.prepare_payload();
  impl_->deadline = std::chrono::steady_clock::now() + impl_->options.timeout;
  // A kept-alive connection may have been closed by the server meanwhile: retry once, fresh
  // (not after a timeout: a server that does not answer would only be waited for again).
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool reused = impl_->stream.has_value();
    if (!reused) COFFRE_RETURN_IF_ERROR(impl_->Connect());
    Result<HttpResponse> r = impl_->Exchange(req);
    if (r.has_value() || !reused || r.error().code() == StatusCode::kDeadlineExceeded) return r;
  }
  return Unavailable("request to " + impl_->options.origin.ToString() + " failed");
}

}  // namespace coffre::net
