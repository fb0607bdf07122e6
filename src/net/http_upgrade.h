#pragma once
// HttpUpgrade: an HTTPS connection whose request asked to switch protocols (a WebSocket
// upgrade), handed by HttpsServer to whoever serves that path, with the TLS stream and the
// request. (A client waits for the 101 before sending more, so nothing is read past it.) Beast
// types, so included only by the translation units that take such a connection over.

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <string_view>

namespace coffre::net {

struct HttpUpgrade {
  boost::beast::ssl_stream<boost::beast::tcp_stream> stream;
  boost::beast::http::request<boost::beast::http::string_body> request;
};

// True if the client's Sec-WebSocket-Protocol list offers `subprotocol`.
template <class Request>
bool OffersSubprotocol(const Request& request, std::string_view subprotocol) {
  std::string_view offered = request[boost::beast::http::field::sec_websocket_protocol];
  while (!offered.empty()) {
    size_t comma = offered.find(',');
    std::string_view item = offered.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item == subprotocol) return true;
    if (comma == std::string_view::npos) break;
    offered.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace coffre::net
