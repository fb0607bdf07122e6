#pragma once
// HttpsServer: an HTTP/1.1 server over TLS with keep-alive, one strand per connection, `threads`
// io threads, a body limit, and deadlines for every phase a client controls. It hands each
// request to a handler and writes back what the handler answers; it knows no routes. A handler
// may answer later, from any thread (HttpResponder), so no io thread ever waits for one. A
// handler that throws gets a 500 in the API's error shape and one log line; the process and the
// other connections carry on. A WebSocket upgrade on one of `upgrade_paths` is handed over, connection
// and all, to `on_upgrade`. Stop() (or the destructor) closes the listener and every connection,
// then joins the threads. Thread-safe.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "net/http_types.h"

namespace coffre::net {

class ServerCertificates;
class TicketKeyStore;

// Answers one request: the first Send wins, later ones do nothing, and so does a Send after the
// connection closed or the server stopped. Copyable (every copy is the same answer); callable
// from any thread; the write itself runs on the connection's strand. If every copy is dropped
// unanswered, the client gets a 500.
class HttpResponder {
 public:
  // For tests and adapters: `deliver` receives the answer (at most once).
  explicit HttpResponder(std::function<void(HttpResponse)> deliver);

  void Send(HttpResponse response) const;
  // Builds the answer on the connection's strand (an io thread) and sends it: for a caller that
  // must not spend its own thread on the work (a storage writer waking a long poll). An
  // exception in `build` becomes a 500. With the callback constructor, `build` runs at once.
  void SendLater(std::function<HttpResponse()> build) const;
  bool answered() const;
  // A responder for the same request whose answer `tap` sees first (on the thread that builds
  // it), e.g. to count refusals for throttling. Answer through one of the two, not both.
  HttpResponder Tapped(std::function<void(const HttpResponse&)> tap) const;

  struct State;  // net-internal
  explicit HttpResponder(std::shared_ptr<State> state) : state_(std::move(state)) {}

 private:
  std::shared_ptr<State> state_;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;
using AsyncHttpHandler = std::function<void(HttpRequest request, HttpResponder respond)>;
struct HttpUpgrade;  // net/http_upgrade.h
using UpgradeHandler = std::function<void(std::unique_ptr<HttpUpgrade>)>;

// The synchronous form on top of the asynchronous one: the handler runs on the io thread and
// its return value is the answer. For handlers that never wait.
AsyncHttpHandler Synchronous(HttpHandler handler);

struct HttpsServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port; see HttpsServer::port()
  std::filesystem::path cert_file;  // PEM chain
  std::filesystem::path key_file;   // PEM private key
  int threads = 0;                  // 0: one per core
  TicketKeyStore* ticket_keys = nullptr;  // where the TLS ticket keys outlive the process
  // The daemon's certificates, which it reloads; null: read once from cert_file and key_file.
  std::shared_ptr<ServerCertificates> certificates;
  size_t max_body_bytes = size_t{1} << 20;
  // A request header larger than this is answered 431 and the connection closed.
  size_t max_header_bytes = 16 * 1024;

  // Deadlines. Each one is for a whole phase, not for a pause between bytes, so a client that
  // sends one byte a second is cut as surely as a silent one.
  std::chrono::milliseconds handshake_timeout{std::chrono::seconds(10)};  // TLS handshake
  // From the first byte of a request (or the end of the handshake) to the end of its header.
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};
  // From the end of the header to the end of the body (also a refused body's drain).
  std::chrono::milliseconds body_timeout{std::chrono::seconds(30)};
  // Keep-alive: how long a connection may sit idle between requests.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  // Writing one response (a client that does not read).
  std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};
  // A handler that has not answered by then gets a 503 for it (a safety net: handlers bound
  // their own waits, e.g. a long poll's 10 s).
  std::chrono::milliseconds response_timeout{std::chrono::seconds(60)};

  // Connections that have not yet delivered one complete request (in the TLS handshake, or
  // sending their first header): at most this many in all, and per source address. The one
  // over either cap is closed at once. A WebSocket upgrade leaves this count when it is handed
  // over (its new owner bounds it from then on).
  size_t max_unproven_connections = 2048;
  size_t max_unproven_per_source = 128;
  // All connections, handed-over ones excepted; beyond this new ones are closed at once.
  size_t max_connections = 16384;

  // Builds the response for errors found before a handler runs (413 body too large, 431 header
  // too large, 400 malformed HTTP) or by the server on a handler's behalf (500 it threw, 503 it
  // did not answer in time), so they share the API's error shape.
  std::function<HttpResponse(unsigned status, std::string_view message)> error_response;
  // Told of each request the server answers by itself with error_response (413, 431, 400), with
  // what is known of it (method and target once its header was read, remote_address): for an
  // audit log. Runs on the connection's strand.
  std::function<void(const HttpRequest& request, const HttpResponse& response)> on_refused;
  // WebSocket upgrades of these paths (query ignored) go to on_upgrade, which runs on the
  // connection's strand and owns the connection from then on (it may dispatch on the path or
  // the offered subprotocol).
  std::vector<std::string> upgrade_paths;
  UpgradeHandler on_upgrade;
  // The component name of log lines ("https").
  std::string log_name = "https";
};

class HttpsServer {
 public:
  static Result<std::unique_ptr<HttpsServer>> Start(HttpsServerOptions options,
                                                    AsyncHttpHandler handler);
  static Result<std::unique_ptr<HttpsServer>> Start(HttpsServerOptions options,
                                                    HttpHandler handler);
  ~HttpsServer();
  HttpsServer(const HttpsServer&) = delete;
  HttpsServer& operator=(const HttpsServer&) = delete;

  uint16_t port() const;
  // Connections open now (handed-over ones excepted), and those of them not yet proven by a
  // complete request: for tests and metrics.
  size_t connections() const;
  size_t unproven_connections() const;
  void Stop();

 private:
  struct Impl;
  explicit HttpsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace coffre::net
