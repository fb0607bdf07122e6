#include "hub/hub_metrics.h"

#include <string>

namespace coffre::hub {
namespace {

// Seconds: from half a millisecond (a PUBACK's usual wait) to 10 s (a disk in trouble).
std::vector<double> LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

}  // namespace

std::string_view ProtocolLabel(Protocol p) {
  switch (p) {
    case Protocol::kMqtt: return "mqtt";
    case Protocol::kMqttWs: return "mqtt-ws";
    case Protocol::kAmqp: return "amqp";
    case Protocol::kAmqpWs: return "amqp-ws";
    case Protocol::kHttps: return "https";
  }
  return "unknown";
}

std::string_view AuthRefusalLabel(AuthRefusal why) {
  switch (why) {
    case AuthRefusal::kMalformed: return "malformed";
    case AuthRefusal::kClientId: return "client_id";
    case AuthRefusal::kHost: return "host";
    case AuthRefusal::kUnknownIdentity: return "unknown_identity";
    case AuthRefusal::kDisabled: return "disabled";
    case AuthRefusal::kAuthType: return "auth_type";
    case AuthRefusal::kSignature: return "signature";
    case AuthRefusal::kExpired: return "expired";
    case AuthRefusal::kCertificate: return "certificate";
    case AuthRefusal::kScope: return "scope";
    case AuthRefusal::kPermission: return "permission";
  }
  return "unknown";
}

HubMetrics::HubMetrics(metrics::Registry& registry)
    : ack_latency(registry.AddHistogram(
          "coffre_hub_ack_latency_seconds",
          "Time from a device-to-cloud message's submission to the store to its durable "
          "acknowledgement (PUBACK, AMQP accepted, HTTP 204), every protocol.",
          LatencyBuckets())),
      group_commit_messages(registry.AddHistogram(
          "coffre_hub_group_commit_messages",
          "Messages made durable by one partition's commit (one fdatasync).",
          metrics::ExponentialBuckets(1, 2, 13))),
      commit_duration(registry.AddHistogram(
          "coffre_hub_commit_duration_seconds",
          "Time of one partition's commit: the segment's fdatasync and the sealed head's write.",
          LatencyBuckets())),
      messages_stored(registry.AddCounter("coffre_hub_messages_stored_total",
                                          "Device-to-cloud messages stored durably.")),
      messages_not_stored(registry.AddCounter(
          "coffre_hub_messages_not_stored_total",
          "Device-to-cloud messages whose commit failed: not acknowledged, sent again by the "
          "device.")),
      registry_(registry),
      key_checks_(registry.Counters("coffre_hub_customer_key_checks_total",
                                    "Checks of the customer-managed key (get, unwrapKey, "
                                    "wrapKey at the vault), by result: ok or the reason.",
                                    {"result"})),
      key_check_duration_(registry.AddHistogram(
          "coffre_hub_customer_key_check_duration_seconds",
          "Time of one customer key check (its three vault calls).", LatencyBuckets())) {
  auto& received = registry.Counters("coffre_hub_messages_received_total",
                                     "Device-to-cloud messages received, before storage.",
                                     {"protocol"});
  auto& received_bytes = registry.Counters(
      "coffre_hub_received_bytes_total", "Body bytes of device-to-cloud messages received.",
      {"protocol"});
  auto& sent = registry.Counters(
      "coffre_hub_messages_sent_total",
      "Messages the hub delivered: kind c2d to devices, kind events (stored telemetry) to "
      "readers of the Event Hubs-compatible endpoint and the read API.",
      {"protocol", "kind"});
  auto& sent_bytes = registry.Counters("coffre_hub_sent_bytes_total",
                                       "Body bytes of the messages the hub delivered.",
                                       {"protocol", "kind"});
  for (size_t i = 0; i < kProtocols; ++i) {
    std::string_view p = ProtocolLabel(static_cast<Protocol>(i));
    ProtocolMetrics& m = protocols_[i];
    m.received_ = &received.With({p});
    m.received_bytes_ = &received_bytes.With({p});
    m.c2d_ = &sent.With({p, "c2d"});
    m.c2d_bytes_ = &sent_bytes.With({p, "c2d"});
    m.events_ = &sent.With({p, "events"});
    m.events_bytes_ = &sent_bytes.With({p, "events"});
  }
  auto& refusals = registry.Counters(
      "coffre_hub_auth_refusals_total",
      "Credentials refused: caller device (MQTT, AMQP, HTTPS device API) or service (a shared "
      "access policy's token), by reason.",
      {"caller", "reason"});
  for (size_t c = 0; c < refusals_.size(); ++c) {
    for (size_t r = 0; r < kAuthRefusals; ++r) {
      refusals_[c][r] = &refusals.With({c == 0 ? "device" : "service",
                                        AuthRefusalLabel(static_cast<AuthRefusal>(r))});
    }
  }
  key_checks_.With({"ok"});  // the series exists from the start
}

void HubMetrics::KeyChecked(std::string_view result, std::chrono::steady_clock::time_point started) {
  key_check_duration_.ObserveSince(started);
  key_checks_.With({result.empty() ? std::string_view("ok") : result}).Inc();
}

}  // namespace coffre::hub
