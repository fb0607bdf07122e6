#pragma once
// MQTT over WebSocket as IoT Hub does it: the WebSocket settings of net/websocket_options.h with
// the subprotocol "mqtt".

#include "mqtt/websocket_path.h"
#include "net/websocket_options.h"

namespace coffre::mqtt {

// True if the client's Sec-WebSocket-Protocol list offers "mqtt".
template <class Request>
bool OffersMqttSubprotocol(const Request& request) {
  return net::OffersSubprotocol(request, kSubprotocol);
}

template <class WebSocket>
void ConfigureMqttWebSocket(WebSocket& ws, size_t max_message_bytes) {
  net::ConfigureWebSocket(ws, max_message_bytes, std::string(kSubprotocol));
}

}  // namespace coffre::mqtt
