#pragma once
// Where MQTT over WebSocket is served on the HTTPS port, as IoT Hub names it. A header of its own
// (no Beast) so that whoever routes that port names the path without compiling Beast for it.

#include <string_view>

namespace coffre::mqtt {

inline constexpr std::string_view kWebSocketPath = "/$iothub/websocket";
// The subprotocol a client offers for MQTT there (AMQP offers "AMQPWSB10" on the same path).
inline constexpr std::string_view kSubprotocol = "mqtt";

}  // namespace coffre::mqtt
