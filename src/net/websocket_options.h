#pragma once
// How a device's or a service's WebSocket stream is set up as IoT Hub does it: the protocol's
// subprotocol ("mqtt", "AMQPWSB10") must be offered and is echoed back, binary messages, a
// bounded message size, and no WebSocket idle timeout (the protocol's own keep-alive governs).
// Templates over the stream so the fuzz target runs the very same settings over an in-memory
// stream.

#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <chrono>
#include <string>
#include <string_view>

#include "net/http_upgrade.h"

namespace coffre::net {

template <class WebSocket>
void ConfigureWebSocket(WebSocket& ws, size_t max_message_bytes, std::string subprotocol) {
  namespace websocket = boost::beast::websocket;
  websocket::stream_base::timeout timeout{};
  timeout.handshake_timeout = std::chrono::seconds(10);
  timeout.idle_timeout = websocket::stream_base::none();
  timeout.keep_alive_pings = false;
  ws.set_option(timeout);
  ws.set_option(websocket::stream_base::decorator(
      [subprotocol = std::move(subprotocol)](websocket::response_type& response) {
        response.set(boost::beast::http::field::sec_websocket_protocol, subprotocol);
      }));
  ws.read_message_max(max_message_bytes);
  ws.binary(true);
  ws.auto_fragment(false);
}

}  // namespace coffre::net
