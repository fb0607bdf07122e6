#pragma once
// Plain HTTP request and response values exchanged with handlers and clients, so that code
// above net/ never sees Beast or Asio types. Value types, thread-compatible.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coffre::net {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// Case-insensitive lookup; empty if absent.
std::string_view FindHeader(const HttpHeaders& headers, std::string_view name);

// The percent-decoded value of a query parameter of `target` ("/path?a=1&b=x%20y"); "" for a
// bare "?a"; nullopt if absent. The last one wins if repeated.
std::optional<std::string> QueryParameter(std::string_view target, std::string_view name);

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query as sent: "/keys/k/?api%2Dversion=7.5"
  HttpHeaders headers;
  std::string body;
  std::string remote_address;
  // The server's id for this request, in its log lines and the answer's x-ms-request-id header
  // (HttpsServer sets it), so a client's error and the server's log meet.
  std::string request_id;

  std::string_view Header(std::string_view name) const { return FindHeader(headers, name); }
  std::optional<std::string> Query(std::string_view name) const {
    return QueryParameter(target, name);
  }
};

struct HttpResponse {
  unsigned status = 200;
  HttpHeaders headers;  // Content-Type, Content-Length and Connection are set by the server
  std::string content_type = "application/json; charset=utf-8";
  std::string body;

  std::string_view Header(std::string_view name) const { return FindHeader(headers, name); }
};

// An origin "https://host:port" split up; the port defaults to 443.
struct Origin {
  std::string scheme;
  std::string host;
  uint16_t port = 443;
  std::string ToString() const;
};

}  // namespace coffre::net
