#pragma once
// WebSocketTransport: MQTT or AMQP over WebSocket over TLS, a Transport (transport.h). Internal
// to src/net: MakeWebSocketTransport is the way in. Its methods are in two files
// (websocket_transport.cc: the upgrade's answer; websocket_transport_io.cc: reads and writes);
// the unity build compiles them in one batch with the HTTPS server, which instantiates the same
// Beast code over TLS (the slowest code of the build to compile).

#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <memory>
#include <string>

#include "net/transport.h"
#include "net/http_upgrade.h"

namespace coffre::net {

class WebSocketTransport final : public Transport {
 public:
  WebSocketTransport(std::unique_ptr<net::HttpUpgrade> upgrade, size_t max_message_bytes,
                     std::string subprotocol);

  boost::asio::any_io_executor executor() override;
  // The TLS handshake is done (the upgrade came over HTTPS); what is left is answering the
  // upgrade: 101 with the subprotocol, or 400 if the client did not offer it.
  void Open(Done done) override;
  // Text messages are not the protocol's: the read fails, and the connection closes.
  void ReadSome(boost::asio::mutable_buffer into, IoDone done) override;
  void Write(boost::asio::const_buffer data, IoDone done) override;
  void Close() override;
  SSL* tls() override;
  std::string remote_address() override;

 private:
  boost::beast::http::request<boost::beast::http::string_body> request_;
  std::string subprotocol_;
  boost::beast::websocket::stream<boost::beast::ssl_stream<boost::beast::tcp_stream>> ws_;
};

}  // namespace coffre::net
