#pragma once
// MqttServer: MQTT for devices, over TLS (port 8883) on its own listener, and over WebSocket
// (/$iothub/websocket) on connections the HTTPS server hands over. Each connection runs a
// Session on its own strand (mqtt/connection.h); QoS 1 telemetry is acknowledged when
// TelemetryIngest reports it durable; one connection per device or module, the newest wins.
// Revocation: the server listens to the registry (hub/identity_listener.h); when an identity
// changes, each of its sessions re-checks the credentials it connected with and closes if they
// no longer hold (deleted, disabled, the key or thumbprint it used replaced).
// Before CONNECT (ConnectLimits): a deadline from the accept, a byte cap, caps on unauthenticated
// connections in total and per source, and a per-source budget of failed CONNECTs. Telemetry
// takes from the hub-wide quota (hub/quotas.h) when one is given: past it, a connection's
// messages wait (its reads pause, PUBACKs come later), and one that waits longer than
// d2c_max_delay is closed, as Azure does.
// Stop() closes the listener and its connections and joins its io threads (WebSocket
// connections live on the HTTPS server's threads and end with it). Thread-safe.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "common/rate_limiter.h"
#include "common/result.h"
#include "hub/device_auth.h"
#include "hub/device_connections.h"
#include "hub/hub_metrics.h"
#include "hub/method_calls.h"
#include "mqtt/device_features.h"
#include "hub/quotas.h"
#include "hub/registry.h"
#include "hub/telemetry_ingest.h"
#include "mqtt/session.h"
#include "net/https_server.h"

namespace coffre::mqtt {

// What may happen before a connection's CONNECT is accepted.
struct ConnectLimits {
  // From the TCP accept (or the WebSocket hand-over) to an accepted CONNECT, the TLS or
  // WebSocket handshake included; then the connection is closed.
  std::chrono::milliseconds deadline{10'000};
  // Unauthenticated connections at once: past either cap a new one is closed at accept.
  size_t max_unauthenticated = 10'000;
  size_t max_unauthenticated_per_source = 100;  // per source IP address
  // Refused CONNECTs per source IP address; past it CONNACK 3 (server unavailable: the SDKs back
  // off and retry) without the credentials even being checked.
  RateLimit failed_auth_per_source{20, 200};
};

struct MqttServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 8883;  // 0: any free port
  std::filesystem::path cert_file, key_file;
  std::shared_ptr<net::ServerCertificates> certificates;  // null: read once from the files
  int threads = 0;  // 0: one per core
  SessionLimits limits;
  ConnectLimits connect;
  // Over the device-to-cloud quota, a message waits at most this long (Azure's traffic shaping)
  // before its connection is closed (Azure's ThrottleBacklogLimitExceeded disconnect).
  std::chrono::milliseconds d2c_max_delay{10'000};
  // Twins, methods and C2D for devices (nullptr: telemetry only); must outlive the server.
  DeviceFeatures* features = nullptr;
  // One connection per identity across the hub's protocols (nullptr: within MQTT only); must
  // outlive the server.
  hub::DeviceConnections* connections = nullptr;
  // Where the TLS ticket keys outlive the process (nullptr: in memory only); must outlive it.
  net::TicketKeyStore* ticket_keys = nullptr;
  // Traffic and connections, as protocols mqtt and mqtt-ws (nullptr: not counted); must outlive
  // the server.
  hub::HubMetrics* metrics = nullptr;
};

class MqttServer : public hub::MethodSink {
 public:
  // auth, ingest, registry and quotas (nullable: no quota) must outlive the server.
  static Result<std::unique_ptr<MqttServer>> Start(MqttServerOptions options,
                                                   hub::DeviceAuthenticator& auth,
                                                   hub::TelemetryIngest& ingest,
                                                   hub::Registry& registry,
                                                   hub::Quotas* quotas = nullptr);
  ~MqttServer() override;

  // Takes over an HTTPS connection that asked for a WebSocket upgrade of kWebSocketPath
  // (mqtt/websocket_options.h). Call on the connection's strand (HttpsServer's on_upgrade).
  void AcceptWebSocket(std::unique_ptr<net::HttpUpgrade> upgrade);
  // AcceptWebSocket as an HttpsServerOptions::on_upgrade.
  net::UpgradeHandler WebSocketHandler();

  uint16_t port() const;
  size_t connections() const;  // authenticated ones
  size_t unauthenticated() const;
  // Closes every device connection (the hub's keys became inaccessible). Thread-safe.
  void CloseAll();

  // Hub-to-device traffic, from any thread. A direct method goes to the identity's session if
  // it subscribed to methods (false otherwise); a desired-properties patch to its session if it
  // subscribed to them; C2dWaiting tells the device's session to fetch its queued messages.
  bool DeliverMethod(const hub::TwinId& target, std::string_view name, std::string_view rid,
                     std::string_view payload) override;
  void SendDesired(const hub::TwinId& target, const std::string& patch, int64_t version);
  void C2dWaiting(const std::string& device_id);
  void Stop();

 private:
  struct Impl;
  explicit MqttServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace coffre::mqtt
