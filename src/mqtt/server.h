#pragma once
// MqttServer: MQTT over TLS (port 8883) for devices. Each connection runs a Session on its own
// strand; what one read produces goes out in one write; QoS 1 telemetry is acknowledged when
// TelemetryIngest reports it durable. One connection per device: a new CONNECT for a device
// closes its older connection. Stop() closes everything and joins the io threads.
// Thread-safe.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "common/result.h"
#include "hub/device_auth.h"
#include "hub/registry.h"
#include "hub/telemetry_ingest.h"
#include "mqtt/session.h"

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

  uint16_t port() const;
  size_t connections() const;
  void Stop();

 private:
  struct Impl;
  explicit MqttServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace coffre::mqtt
