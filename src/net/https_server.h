#pragma once
// HttpsServer: an HTTP/1.1 server over TLS with keep-alive, one
// strand per connection, `threads` io threads, a body limit, and timeouts. It hands each
// request to a handler and writes back what the handler returns; it knows no routes.
// A WebSocket upgrade on `upgrade_path` is handed over, connection and all, to `on_upgrade`.
// Stop() (or the destructor) closes the listener and every connection, then joins the threads.
// Thread-safe.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "common/result.h"
#include "net/http_types.h"

namespace coffre::net {

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;
struct HttpUpgrade;  // net/http_upgrade.h
using UpgradeHandler = std::function<void(std::unique_ptr<HttpUpgrade>)>;

struct HttpsServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port; see HttpsServer::port()
  std::filesystem::path cert_file;  // PEM chain
  std::filesystem::path key_file;   // PEM private key
  int threads = 0;                  // 0: one per core
  size_t max_body_bytes = size_t{1} << 20;
  std::chrono::seconds idle_timeout{60};
  // Builds the response for errors found before a handler runs (413 body too large, 400
  // malformed HTTP), so they share the API's error shape.
  std::function<HttpResponse(unsigned status, std::string_view message)> error_response;
  // Told of each request the server answers by itself with error_response (413, 400), with
  // what is known of it (method and target once its header was read, remote_address): for an
  // audit log. Runs on the connection's strand.
  std::function<void(const HttpRequest& request, const HttpResponse& response)> on_refused;
  // WebSocket upgrades of this path (query ignored) go to on_upgrade, which runs on the
  // connection's strand and owns the connection from then on.
  std::string upgrade_path;
  UpgradeHandler on_upgrade;
};

class HttpsServer {
 public:
  static Result<std::unique_ptr<HttpsServer>> Start(HttpsServerOptions options,
                                                    HttpHandler handler);
  ~HttpsServer();
  HttpsServer(const HttpsServer&) = delete;
  HttpsServer& operator=(const HttpsServer&) = delete;

  uint16_t port() const;
  void Stop();

 private:
  struct Impl;
  explicit HttpsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace coffre::net
