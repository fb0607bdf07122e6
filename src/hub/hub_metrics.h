#pragma once
// HubMetrics: the metrics the hub's parts move as things happen (docs/METRICS.md), made on one
// registry, with every series of a protocol, a refusal reason or a key check result resolved
// once: counting is one relaxed atomic add, with no lookup. Values that parts already keep (queue
// lengths, disk space, the key's state, seals and opens, connections) are read at scrape time
// instead (hubservice/hub_metrics_wiring.h). A part given no HubMetrics (null) counts nothing.
// No label carries a device id, a key or a token: protocols, kinds and reasons only.
// Thread-safe.

#include <array>
#include <chrono>
#include <cstdint>
#include <string_view>

#include "common/metrics/counter.h"
#include "common/metrics/gauge.h"
#include "common/metrics/histogram.h"
#include "common/metrics/registry.h"

namespace coffre::hub {

// How a client reached the hub: the "protocol" label.
enum class Protocol : uint8_t { kMqtt, kMqttWs, kAmqp, kAmqpWs, kHttps };
inline constexpr size_t kProtocols = 5;
std::string_view ProtocolLabel(Protocol p);  // "mqtt", "mqtt-ws", "amqp", "amqp-ws", "https"

// Who presented a refused credential, and why it was refused: the labels of
// coffre_hub_auth_refusals_total. The client is told none of this (hub/device_auth.h).
enum class Caller : uint8_t { kDevice, kService };
enum class AuthRefusal : uint8_t {
  kMalformed,        // not a SAS token, a user name that does not parse, no password
  kClientId,         // the MQTT client id and user name disagree
  kHost,             // a host name the hub does not answer to
  kUnknownIdentity,  // no such device, module or policy
  kDisabled,         // the device is disabled
  kAuthType,         // a token for a certificate identity, or a certificate for a SAS one
  kSignature,        // the signature or the audience does not verify
  kExpired,          // signed right, but expired
  kCertificate,      // no thumbprint matches, or the certificate has expired
  kScope,            // a policy token whose sr does not cover the request
  kPermission,       // a valid policy token without the right
};
inline constexpr size_t kAuthRefusals = 11;
std::string_view AuthRefusalLabel(AuthRefusal why);  // "malformed", "client_id", ...

// One protocol's traffic and connections.
class ProtocolMetrics {
 public:
  // A device-to-cloud message received (before it is stored), `bytes` of body.
  void Received(size_t bytes) {
    received_->Inc();
    received_bytes_->Inc(bytes);
  }
  // A cloud-to-device message delivered to a device.
  void SentC2d(size_t bytes) {
    c2d_->Inc();
    c2d_bytes_->Inc(bytes);
  }
  // Stored telemetry delivered to a reader (the Event Hubs-compatible endpoint, the read API).
  void SentEvents(size_t messages, size_t bytes) {
    events_->Inc(messages);
    events_bytes_->Inc(bytes);
  }
  // Connections open now, and those of them that authenticated (metrics::GaugeHold).
  metrics::Gauge& open() { return open_; }
  metrics::Gauge& authenticated() { return authenticated_; }

 private:
  friend class HubMetrics;
  metrics::Counter *received_ = nullptr, *received_bytes_ = nullptr;
  metrics::Counter *c2d_ = nullptr, *c2d_bytes_ = nullptr;
  metrics::Counter *events_ = nullptr, *events_bytes_ = nullptr;
  metrics::Gauge open_, authenticated_;  // read at scrape time with the HTTPS server's own
};

class HubMetrics {
 public:
  // Adds the hub's event metrics to `registry`, which must outlive this object.
  explicit HubMetrics(metrics::Registry& registry);
  HubMetrics(const HubMetrics&) = delete;
  HubMetrics& operator=(const HubMetrics&) = delete;

  metrics::Registry& registry() { return registry_; }
  ProtocolMetrics& protocol(Protocol p) { return protocols_[static_cast<size_t>(p)]; }

  void Refused(Caller caller, AuthRefusal why) {
    refusals_[static_cast<size_t>(caller)][static_cast<size_t>(why)]->Inc();
  }

  // One customer key check (KeyMonitor): "ok", or the reason it failed (KeyDisabled, ...).
  void KeyChecked(std::string_view result, std::chrono::steady_clock::time_point started);

  // The ingest (TelemetryIngest): from a message's submission to its durable completion; the
  // messages of one partition's commit, and how long the commit (fdatasync, sealed head) took;
  // messages stored, or not (the device is not acknowledged and sends again).
  metrics::Histogram& ack_latency;
  metrics::Histogram& group_commit_messages;
  metrics::Histogram& commit_duration;
  metrics::Counter& messages_stored;
  metrics::Counter& messages_not_stored;

 private:
  metrics::Registry& registry_;
  std::array<ProtocolMetrics, kProtocols> protocols_;
  std::array<std::array<metrics::Counter*, kAuthRefusals>, 2> refusals_{};
  metrics::Family<metrics::Counter>& key_checks_;
  metrics::Histogram& key_check_duration_;
};

}  // namespace coffre::hub
