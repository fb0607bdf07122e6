#pragma once
// HttpUpgrade: an HTTPS connection whose request asked to switch protocols (a WebSocket
// upgrade), handed by HttpsServer to whoever serves that path, with the TLS stream and the
// request. (A client waits for the 101 before sending more, so nothing is read past it.) Beast
// types, so included only by the translation units that take such a connection over.

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace coffre::net {

struct HttpUpgrade {
  boost::beast::ssl_stream<boost::beast::tcp_stream> stream;
  boost::beast::http::request<boost::beast::http::string_body> request;
};

}  // namespace coffre::net
