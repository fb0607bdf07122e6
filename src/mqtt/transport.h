#pragma once
// Transport: the byte stream under one device's MQTT connection, either MQTT over TLS (port 8883)
// or MQTT over WebSocket over TLS (the HTTPS port's /$iothub/websocket, subprotocol "mqtt",
// binary messages). A Connection drives it from the transport's strand, one read and one write
// at a time. Asio types, so included only by the mqtt translation units that run connections.

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <functional>
#include <memory>
#include <string>

namespace coffre::net {
struct HttpUpgrade;
}

namespace coffre::mqtt {

class Transport {
 public:
  using Done = std::function<void(boost::system::error_code)>;
  using IoDone = std::function<void(boost::system::error_code, size_t)>;

  virtual ~Transport() = default;
  virtual boost::asio::any_io_executor executor() = 0;
  // The TLS handshake, or the WebSocket handshake's answer.
  virtual void Open(Done done) = 0;
  // Some bytes of the MQTT stream, whatever frames carried them.
  virtual void ReadSome(boost::asio::mutable_buffer into, IoDone done) = 0;
  virtual void Write(boost::asio::const_buffer data, IoDone done) = 0;
  // Closes the socket at once: pending operations end with an error.
  virtual void Close() = 0;
  // The TLS connection, for the client certificate.
  virtual SSL* tls() = 0;
  // "address:port" of the peer, for the log; empty if unknown.
  virtual std::string remote_address() = 0;
};

// "address:port" of the socket's peer; empty if unknown.
std::string PeerAddress(const boost::asio::ip::tcp::socket& socket);

// OpenSSL on the socket itself (tls_socket_transport.cc): no per-connection buffers while idle.
std::unique_ptr<Transport> MakeTlsTransport(boost::asio::ip::tcp::socket socket,
                                            boost::asio::ssl::context& tls);

// max_message_bytes bounds one WebSocket message (MQTT packets travel one or more per message).
std::unique_ptr<Transport> MakeWebSocketTransport(std::unique_ptr<net::HttpUpgrade> upgrade,
                                                  size_t max_message_bytes);

}  // namespace coffre::mqtt
