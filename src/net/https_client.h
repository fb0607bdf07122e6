#pragma once
// HttpsClient: a blocking HTTP/1.1 client over TLS for one origin, verifying the server against
// a CA file and the host name, keeping its connection alive between requests (and reconnecting
// once if the server closed it). Every request is bounded by `timeout`.
// Thread-compatible: one client per thread.

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "common/result.h"
#include "net/certificates.h"
#include "net/http_types.h"

namespace coffre::net {

struct HttpsClientOptions {
  Origin origin;
  std::filesystem::path ca_file;  // empty: the system's trust store
  std::chrono::milliseconds timeout{5000};
  std::string ca_pem;  // PEM CA certificates to trust instead of ca_file, if set
};

// "https://localhost:8443" -> Origin; INVALID_ARGUMENT for anything else (paths allowed and
// ignored).
Result<Origin> ParseOrigin(std::string_view url);

class HttpsClient {
 public:
  static Result<std::unique_ptr<HttpsClient>> Create(HttpsClientOptions options);
  ~HttpsClient();

  // UNAVAILABLE for connection failures (refused, TLS, reset), DEADLINE_EXCEEDED on timeout.
  // Any HTTP status is a successful exchange.
  Result<HttpResponse> Send(std::string_view method, std::string_view target,
                            const HttpHeaders& headers, std::string_view body);

  // The certificate the server showed at the last handshake (its expiry for `coffre status`).
  const std::optional<CertificateInfo>& server_certificate() const;

 private:
  struct Impl;
  explicit HttpsClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace coffre::net
