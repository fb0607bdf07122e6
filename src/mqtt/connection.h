#pragma once
// Connection: one device's MQTT connection, a Session driven over a Transport on the
// transport's strand. What one read produces goes out in one write; QoS 1 telemetry is
// acknowledged when TelemetryIngest reports it durable; the session ticks every second
// (keep-alive, token expiry). One connection per device: registering a device closes its older
// connection. Internal to the mqtt library (MqttServer creates connections).

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "hub/device_auth.h"
#include "hub/registry.h"
#include "hub/telemetry_ingest.h"
#include "mqtt/session.h"
#include "mqtt/transport.h"

namespace coffre::mqtt {

class Connection;

// Shared by all connections: the hub's services and the one-connection-per-device table.
struct ServerShared {
  hub::DeviceAuthenticator& auth;
  hub::TelemetryIngest& ingest;
  hub::Registry& registry;
  SessionLimits limits;
  std::mutex mu;
  std::map<std::string, std::weak_ptr<Connection>> by_device;  // guarded by mu
};

class Connection : public std::enable_shared_from_this<Connection>, public SessionHost {
 public:
  Connection(std::unique_ptr<Transport> transport, ServerShared& shared);

  void Start();  // opens the transport, then reads
  void Kick();   // closes from any thread (a newer connection of the same device)

  // SessionHost, called on the strand.
  Result<hub::AuthenticatedDevice> Authenticate(const hub::DeviceCredentials& c) override;
  void SubmitTelemetry(hub::TelemetryMessage message, uint16_t packet_id) override;
  int64_t NowMs() override;

 private:
  void Durable(uint16_t packet_id, const Status& stored);  // any thread
  void DrainAcks();                                         // on the strand
  void Read();
  void AddPeerCertificate(hub::DeviceCredentials& c);
  void Register();
  void Apply(Session::Output out);
  void Write();
  void Tick();
  void Shutdown();
  void Unregister();

  std::unique_ptr<Transport> transport_;
  ServerShared& shared_;
  boost::asio::steady_timer timer_;
  Session session_;
  std::string peer_;  // for the log
  // Left uninitialised on purpose: an idle connection touches only the pages a read filled.
  std::array<char, 16384> read_buffer_;
  Bytes pending_;    // to send with the next write
  Bytes in_flight_;  // being written
  bool writing_ = false;
  std::mutex acks_mu_;
  std::vector<std::pair<uint16_t, Status>> acks_;  // guarded by acks_mu_
  bool acks_posted_ = false;                       // guarded by acks_mu_
  bool opened_ = false;
  bool closing_ = false;
  bool shut_ = false;
};

}  // namespace coffre::mqtt
