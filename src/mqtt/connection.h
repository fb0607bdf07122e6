#pragma once
// Connection: one device's MQTT connection, a Session driven over a Transport on the
// transport's strand. What one read produces goes out in one write; QoS 1 telemetry is
// acknowledged when TelemetryIngest reports it durable; the session ticks every second
// (keep-alive, token expiry). One connection per device or module: registering closes the
// identity's older connection. Before CONNECT it holds an Admission slot and must authenticate
// by its deadline. It keeps the credentials it was accepted with, to re-check them when its
// identity changes (Recheck). Over the hub's d2c quota its messages wait in order with its reads
// paused, up to d2c_max_delay. Internal to the mqtt library (MqttServer creates connections).

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/metrics/gauge_hold.h"
#include "common/rate_limiter.h"
#include "hub/device_auth.h"
#include "hub/quotas.h"
#include "hub/registry.h"
#include "hub/telemetry_ingest.h"
#include "net/admission.h"
#include "mqtt/server.h"
#include "mqtt/session.h"
#include "net/transport.h"

namespace coffre::mqtt {

class Connection;

// Shared by all connections: the hub's services, the limits and the one-connection-per-identity
// table.
struct ServerShared {
  ServerShared(const MqttServerOptions& o, hub::DeviceAuthenticator& a, hub::TelemetryIngest& i,
               hub::Registry& r, hub::Quotas* q)
      : auth(a), ingest(i), registry(r), quotas(q), limits(o.limits), deadline(o.connect.deadline),
        admission(o.connect.max_unauthenticated, o.connect.max_unauthenticated_per_source),
        failed_auth(o.connect.failed_auth_per_source), d2c_max_delay(o.d2c_max_delay),
        features(o.features), connections(o.connections), metrics(o.metrics) {}

  hub::DeviceAuthenticator& auth;
  hub::TelemetryIngest& ingest;
  hub::Registry& registry;
  hub::Quotas* quotas;  // nullable: no quota
  const SessionLimits limits;
  const std::chrono::milliseconds deadline;  // accept to accepted CONNECT
  net::Admission admission;                  // unauthenticated connections
  RateLimiter failed_auth;                   // refused CONNECTs, per source address
  const std::chrono::milliseconds d2c_max_delay;
  DeviceFeatures* const features;  // nullable: telemetry only
  // The hub's identity -> connection table across protocols (nullable: MQTT's own only).
  hub::DeviceConnections* const connections;
  hub::HubMetrics* const metrics;  // nullable: not counted
  // Counts identity changes: a connection that authenticated while one happened re-checks.
  std::atomic<uint64_t> identity_changes{0};
  std::mutex mu;
  // "device" or "device/module" (neither id may hold '/') to its connection; guarded by mu.
  std::map<std::string, std::weak_ptr<Connection>> by_identity;
};

class Connection : public std::enable_shared_from_this<Connection>, public SessionHost {
 public:
  // `source` (the peer's address) already holds an Admission slot, which the connection gives
  // back when it authenticates or closes. `protocol`: mqtt or mqtt-ws, for the metrics.
  Connection(std::unique_ptr<net::Transport> transport, ServerShared& shared, std::string source,
             hub::Protocol protocol);
  ~Connection() override;

  void Start();    // opens the transport, then reads
  void Kick();     // closes from any thread (a newer connection of the same identity)
  // Re-checks, on the strand, the credentials the session was accepted with against the
  // registry as it is now, and closes the connection if they no longer hold. Any thread.
  void Recheck();

  // Hub-to-device traffic, from any thread (MqttServer finds the connection). DeliverMethod is
  // false unless the session subscribed to methods.
  bool DeliverMethod(std::string_view name, std::string_view rid, std::string_view payload);
  void SendDesired(const std::string& patch, int64_t version);
  void PullC2d();  // fetch the next C2D message if the session takes them and holds none

  // SessionHost, called on the strand.
  Result<hub::AuthenticatedDevice> Authenticate(const hub::DeviceCredentials& c) override;
  void SubmitTelemetry(hub::TelemetryMessage message, uint16_t packet_id) override;
  void SubmitTwinRequest(const IotHubRequest& request, std::string body) override;
  void SubmitMethodResponse(const std::string& rid, int status, std::string payload) override;
  void Subscribed(SessionFeature feature) override;
  void C2dAcknowledged(const std::string& lock_token) override;
  int64_t NowMs() override;

 private:
  // What CONNECT carried, owned (the SAS token is wiped when the connection goes).
  struct HeldCredentials {
    std::string client_id, username;
    std::optional<std::string> password;
    std::optional<std::string> certificate_sha1, certificate_sha256;
    int64_t certificate_not_after = 0;
    ~HeldCredentials();
    hub::DeviceCredentials View() const;
  };
  struct Shaped {  // a message waiting for the d2c quota
    hub::TelemetryMessage message;
    uint16_t packet_id;
  };

  std::string IdentityKey() const;
  hub::TwinId Identity() const;
  void PullC2dNow();                                        // on the strand
  void Deliver(std::optional<hub::QueuedC2d> message);      // on the strand
  void Durable(uint16_t packet_id, const Status& stored);  // any thread
  void DrainAcks();                                         // on the strand
  void Read();
  void AddPeerCertificate(hub::DeviceCredentials& c);
  void Register();
  void RecheckNow();
  void Submit(hub::TelemetryMessage message, uint16_t packet_id);
  void ArmShaping(std::chrono::milliseconds wait);
  void CloseThrottled();  // a message would wait longer than d2c_max_delay
  void DrainShaped();
  void Apply(Session::Output out);
  void Write();
  void Tick();
  void Close(std::string reason);  // logs, then shuts down at once
  void Shutdown();
  void Unregister();
  void ReleaseAdmission();

  std::unique_ptr<net::Transport> transport_;
  ServerShared& shared_;
  boost::asio::steady_timer timer_;
  Session session_;
  std::string source_;  // the peer's address: the key of per-source limits
  hub::ProtocolMetrics* traffic_ = nullptr;  // null: not counted
  metrics::GaugeHold open_, authenticated_;   // counted from the accept, from CONNECT, to the end
  std::string peer_;    // for the log
  std::chrono::steady_clock::time_point deadline_;  // for an accepted CONNECT
  bool admitted_ = true;  // holds an Admission slot
  std::unique_ptr<HeldCredentials> credentials_;  // once accepted
  uint64_t changes_seen_ = 0;  // identity_changes when authentication began
  uint64_t held_ = 0;          // the DeviceConnections token, 0 if none
  bool recheck_due_ = false;
  // Reads land in a small buffer inside the connection; a read that fills it (a busy device)
  // moves reading to 16 KB on the heap until a read fits the small one again. An inline 16 KB
  // buffer cost every idle connection two pages or more of RSS. Left uninitialised on purpose.
  static constexpr size_t kSmallRead = 512;
  using BigRead = std::array<char, 16384>;
  std::array<char, kSmallRead> small_read_;
  std::unique_ptr<BigRead> big_read_;
  Bytes pending_;    // to send with the next write
  Bytes in_flight_;  // being written
  bool writing_ = false;
  std::mutex acks_mu_;
  std::vector<std::pair<uint16_t, Status>> acks_;  // guarded by acks_mu_
  bool acks_posted_ = false;                       // guarded by acks_mu_
  std::deque<Shaped> shaped_;  // over the quota, in order
  std::chrono::steady_clock::time_point shaped_since_;  // the head's wait began
  std::optional<boost::asio::steady_timer> shaping_timer_;
  bool read_paused_ = false;  // while shaped_ is not empty
  std::atomic<bool> methods_subscribed_{false};  // read by DeliverMethod on any thread
  bool c2d_fetching_ = false;  // a NextC2d is outstanding
  bool opened_ = false;
  bool closing_ = false;
  bool shut_ = false;
};

}  // namespace coffre::mqtt
