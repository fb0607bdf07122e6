#include "mqtt/transport.h"

#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "mqtt/websocket_options.h"
#include "net/http_upgrade.h"

namespace coffre::mqtt {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {


class WebSocketTransport final : public Transport {
 public:
  WebSocketTransport(std::unique_ptr<net::HttpUpgrade> upgrade, size_t max_message_bytes)
      : request_(std::move(upgrade->request)), ws_(std::move(upgrade->stream)) {
    boost::system::error_code ignored;
    beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true), ignored);
    ConfigureMqttWebSocket(ws_, max_message_bytes);
  }

  asio::any_io_executor executor() override { return ws_.get_executor(); }

  // The TLS handshake is done (the upgrade came over HTTPS); what is left is answering the
  // upgrade: 101 with subprotocol "mqtt", or 400 if the client did not offer it.
  void Open(Done done) override {
    if (!OffersMqttSubprotocol(request_)) {
      auto refusal = std::make_shared<http::response<http::string_body>>(
          http::status::bad_request, request_.version());
      refusal->set(http::field::content_type, "text/plain");
      refusal->body() = "MQTT over WebSocket needs the subprotocol \"mqtt\".\n";
      refusal->keep_alive(false);
      refusal->prepare_payload();
      http::async_write(ws_.next_layer(), *refusal,
                        [refusal, done = std::move(done)](boost::system::error_code, size_t) {
                          done(websocket::error::upgrade_declined);
                        });
      return;
    }
    ws_.async_accept(request_, std::move(done));
  }

  // Text messages are not MQTT: the read fails, and the connection closes.
  void ReadSome(asio::mutable_buffer into, IoDone done) override {
    ws_.async_read_some(into, [this, done = std::move(done)](boost::system::error_code ec,
                                                            size_t n) {
      if (!ec && ws_.got_text()) ec = websocket::error::bad_data_frame;
      done(ec, n);
    });
  }
  void Write(asio::const_buffer data, IoDone done) override {
    ws_.async_write(data, std::move(done));
  }
  void Close() override {
    boost::system::error_code ignored;
    auto& socket = beast::get_lowest_layer(ws_).socket();
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
  }
  SSL* tls() override { return ws_.next_layer().native_handle(); }
  std::string remote_address() override {
    return PeerAddress(beast::get_lowest_layer(ws_).socket()) + " (websocket)";
  }

 private:
  http::request<http::string_body> request_;
  websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws_;
};

}  // namespace

std::string PeerAddress(const tcp::socket& socket) {
  boost::system::error_code ec;
  tcp::endpoint peer = socket.remote_endpoint(ec);
  return ec ? "" : peer.address().to_string() + ":" + std::to_string(peer.port());
}

std::unique_ptr<Transport> MakeWebSocketTransport(std::unique_ptr<net::HttpUpgrade> upgrade,
                                                  size_t max_message_bytes) {
  return std::make_unique<WebSocketTransport>(std::move(upgrade), max_message_bytes);
}

}  // namespace coffre::mqtt
