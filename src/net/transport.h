#pragma once
// Transport: the byte stream under one MQTT or AMQP connection, either over TLS (its own port:
// 8883, 5671) or over WebSocket over TLS (the HTTPS port's upgrades, subprotocol "mqtt" or
// "AMQPWSB10", binary messages). A connection drives it from the transport's strand, one read
// and one write at a time. Asio types, so included only by the translation units that run
// connections.

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <functional>
#include <memory>
#include <string>

namespace coffre::net {

struct HttpUpgrade;

class Transport {
 public:
  using Done = std::function<void(boost::system::error_code)>;
  using IoDone = std::function<void(boost::system::error_code, size_t)>;

  virtual ~Transport() = default;
  virtual boost::asio::any_io_executor executor() = 0;
  // The TLS handshake, or the WebSocket handshake's answer.
  virtual void Open(Done done) = 0;
  // Some bytes of the protocol's stream, whatever frames carried them.
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

// max_message_bytes bounds one WebSocket message (packets or frames travel one or more per
// message, or split across messages); `subprotocol` must be offered and is echoed.
std::unique_ptr<Transport> MakeWebSocketTransport(std::unique_ptr<HttpUpgrade> upgrade,
                                                  size_t max_message_bytes,
                                                  std::string subprotocol);

}  // namespace coffre::net
