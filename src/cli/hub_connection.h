#pragma once
// How the `coffre hub ...` commands reach a hub: the connection options resolved to a host, a
// port, a CA file and a shared access policy (an iothubowner-style connection string), and
// HubClient, which calls the hub's service and read APIs with a service SAS token and turns
// replies into values (the JSON body of a 2xx, else the hub's error as a Status).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/result.h"
#include "crypto/secret_bytes.h"
#include "net/https_client.h"

namespace coffre::cli {

struct HubConnectionOptions {
  std::string dir;    // a stack directory: DIR/connection.json names the hub
  std::string login;  // HostName=...;SharedAccessKeyName=...;SharedAccessKey=... (beats DIR's)
  std::string ca_file;  // beats DIR's; empty (and no DIR): the system's trust store
  uint16_t port = 0;    // beats DIR's https_port; 0 and no DIR: 443
  // How long one request may take: above the read API's longest long poll (10 s); a direct
  // method's command raises it to its own timeouts.
  std::chrono::seconds request_timeout{15};
};

// Move-only: it holds the policy key.
struct HubConnection {
  std::string host;  // HostName: the TLS name and the SAS audience
  uint16_t https_port = 443;
  std::filesystem::path ca_file;
  uint16_t mqtt_port = 0;  // from DIR's connection.json; 0 when unknown
  std::string policy_name;
  crypto::SecretBytes policy_key;
  std::chrono::seconds request_timeout{15};
};

// "A=1;B=x==" -> {A: 1, B: x==}. INVALID_ARGUMENT for a part without '='.
Result<std::map<std::string, std::string>> ParseConnectionString(std::string_view text);

// Explicit options beat DIR's connection.json. INVALID_ARGUMENT when no hub or no policy
// results: a usage error.
Result<HubConnection> ResolveHubConnection(const HubConnectionOptions& options);

// Seconds since the epoch, as SAS expiries count.
int64_t UnixNow();

// The hub's APIs over one keep-alive HTTPS connection. Thread-compatible.
class HubClient {
 public:
  static Result<std::unique_ptr<HubClient>> Create(HubConnection connection);

  // `path` is percent-encoded already; api-version is added to `query`. The body of a 2xx
  // reply (null when empty); else the hub's error: "<ErrorCode>: <text>", with a code
  // matching the HTTP status (404: NOT_FOUND, ...).
  Result<nlohmann::json> Call(std::string_view method, std::string_view path,
                              const nlohmann::json* body = nullptr, std::string_view query = {},
                              const net::HttpHeaders& headers = {});

  // The whole reply of a 2xx (for a body that is not JSON, or headers); else the hub's error.
  Result<net::HttpResponse> CallRaw(std::string_view method, std::string_view path,
                                    std::string_view body, std::string_view query = {},
                                    const net::HttpHeaders& headers = {});

  // The same with `authorization` (a device's SAS token) in place of the policy's.
  Result<net::HttpResponse> CallRawAs(std::string_view authorization, std::string_view method,
                                      std::string_view path, std::string_view body,
                                      const net::HttpHeaders& headers = {});

  const HubConnection& connection() const { return connection_; }

 private:
  HubClient(HubConnection connection, std::unique_ptr<net::HttpsClient> http)
      : connection_(std::move(connection)), http_(std::move(http)) {}

  // A service token, renewed well before it expires (monitor-events runs for hours).
  Result<std::string> Authorization();

  HubConnection connection_;
  std::unique_ptr<net::HttpsClient> http_;
  std::string token_;
  int64_t token_expiry_ = 0;
};

}  // namespace coffre::cli
