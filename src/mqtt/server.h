#pragma once
// MqttServer: MQTT for devices, over TLS (port 8883) on its own listener, and over WebSocket
// (/$iothub/websocket) on connections the HTTPS server hands over. Each connection runs a
// Session on its own strand (mqtt/connection.h); QoS 1 telemetry is acknowledged when
// TelemetryIngest reports it durable; one connection per device, the newest wins. Stop() closes
// the listener and its connections and joins its io threads (WebSocket connections live on the
// HTTPS server's threads and end with it). Thread-safe.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "common/result.h"
#include "hub/device_auth.h"
#include "hub/registry.h"
#include "hub/telemetry_ingest.h"
#include "mqtt/session.h"
#include "net/https_server.h"

namespace coffre::mqtt {

struct MqttServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 8883;  // 0: any free port
  std::filesystem::path cert_file, key_file;
  int threads = 0;  // 0: one per core
  SessionLimits limits;
};

class MqttServer {
 public:
  // auth, ingest and registry must outlive the server.
  static Result<std::unique_ptr<MqttServer>> Start(MqttServerOptions options,
                                                   hub::DeviceAuthenticator& auth,
                                                   hub::TelemetryIngest& ingest,
                                                   hub::Registry& registry);
  ~MqttServer();

  // Takes over an HTTPS connection that asked for a WebSocket upgrade of kWebSocketPath
  // (mqtt/websocket_options.h). Call on the connection's strand (HttpsServer's on_upgrade).
  void AcceptWebSocket(std::unique_ptr<net::HttpUpgrade> upgrade);
  // AcceptWebSocket as an HttpsServerOptions::on_upgrade.
  net::UpgradeHandler WebSocketHandler();

  uint16_t port() const;
  size_t connections() const;
  // Closes every device connection (the hub's keys became inaccessible). Thread-safe.
  void CloseAll();
  void Stop();

 private:
  struct Impl;
  explicit MqttServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace coffre::mqtt
