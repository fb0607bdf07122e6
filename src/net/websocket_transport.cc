#include "net/transport.h"

#include "net/websocket_options.h"
#include "net/websocket_transport.h"

namespace coffre::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

WebSocketTransport::WebSocketTransport(std::unique_ptr<net::HttpUpgrade> upgrade,
                                       size_t max_message_bytes, std::string subprotocol)
    : request_(std::move(upgrade->request)),
      subprotocol_(std::move(subprotocol)),
      ws_(std::move(upgrade->stream)) {
  boost::system::error_code ignored;
  beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true), ignored);
  ConfigureWebSocket(ws_, max_message_bytes, subprotocol_);
}

asio::any_io_executor WebSocketTransport::executor() { return ws_.get_executor(); }

void WebSocketTransport::Open(Done done) {
  if (!OffersSubprotocol(request_, subprotocol_)) {
    auto refusal = std::make_shared<http::response<http::string_body>>(http::status::bad_request,
                                                                       request_.version());
    refusal->set(http::field::content_type, "text/plain");
    refusal->body() = "This WebSocket endpoint needs the subprotocol \"" + subprotocol_ + "\".\n";
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

void WebSocketTransport::Close() {
  boost::system::error_code ignored;
  auto& socket = beast::get_lowest_layer(ws_).socket();
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

SSL* WebSocketTransport::tls() { return ws_.next_layer().native_handle(); }

std::string WebSocketTransport::remote_address() {
  return PeerAddress(beast::get_lowest_layer(ws_).socket()) + " (websocket)";
}

std::string PeerAddress(const tcp::socket& socket) {
  boost::system::error_code ec;
  tcp::endpoint peer = socket.remote_endpoint(ec);
  return ec ? "" : peer.address().to_string() + ":" + std::to_string(peer.port());
}

std::unique_ptr<Transport> MakeWebSocketTransport(std::unique_ptr<net::HttpUpgrade> upgrade,
                                                  size_t max_message_bytes,
                                                  std::string subprotocol) {
  return std::make_unique<WebSocketTransport>(std::move(upgrade), max_message_bytes,
                                              std::move(subprotocol));
}

}  // namespace coffre::net
