// WebSocketTransport's reads and writes (websocket_transport.h says why they are apart).
#include "net/websocket_transport.h"

namespace coffre::net {

namespace asio = boost::asio;
namespace websocket = boost::beast::websocket;

void WebSocketTransport::ReadSome(asio::mutable_buffer into, IoDone done) {
  ws_.async_read_some(into, [this, done = std::move(done)](boost::system::error_code ec,
                                                          size_t n) {
    if (!ec && ws_.got_text()) ec = websocket::error::bad_data_frame;
    done(ec, n);
  });
}

void WebSocketTransport::Write(asio::const_buffer data, IoDone done) {
  ws_.async_write(data, std::move(done));
}

}  // namespace coffre::net
