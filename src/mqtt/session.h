#pragma once
// Session: one device's MQTT connection as IoT Hub runs it, as a state machine over bytes: no
// sockets, no threads. The server feeds it what it reads and writes what it returns; replies
// from one read come back as one buffer (so many PUBACKs cost one write).
//
//   AwaitConnect --CONNECT, authenticated--> Connected --DISCONNECT / violation / expiry--> Closed
//
// Rules (iothub-protocol.md §3): MQTT 3.1.1 only (else CONNACK 1); credentials through the host
// (CONNACK 2, 4, 5; 3 if the hub cannot decide, e.g. while its keys are inaccessible); telemetry
// only on the device's own events topic; QoS 2, oversize messages, bad property bags, other
// topics and any protocol violation close the connection; a QoS 1 PUBLISH is acknowledged only
// when the host reports it durable (OnDurable); keep-alive 1.5x the client's (at most 1767 s);
// the session ends when its SAS token expires; before CONNECT, a packet may not announce more than
// max_connect_bytes. Thread-compatible: one strand per session.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "hub/device_auth.h"
#include "hub/telemetry_record.h"
#include "mqtt/iothub_topics.h"
#include "mqtt/packets.h"

namespace coffre::mqtt {

// The IoT Hub features a device turns on by subscribing (iothub-protocol.md §3.3).
enum class SessionFeature : uint8_t {
  kTwinResponses = 1,  // $iothub/twin/res/#
  kDesired = 2,        // $iothub/twin/PATCH/properties/desired/#
  kMethods = 4,        // $iothub/methods/POST/#
  kC2d = 8,            // devices/{id}/messages/devicebound/# (modules: .../inputs/#)
};

// What a session needs from the hub.
class SessionHost {
 public:
  virtual ~SessionHost() = default;
  virtual Result<hub::AuthenticatedDevice> Authenticate(const hub::DeviceCredentials& c) = 0;
  // Stores a telemetry message. packet_id != 0 (QoS 1): the server later calls
  // Session::OnDurable(packet_id, status) on the session's strand.
  virtual void SubmitTelemetry(hub::TelemetryMessage message, uint16_t packet_id) = 0;
  // A twin GET or reported PATCH (body: the patch); the server later calls
  // Session::OnTwinReply with the request's rid on the session's strand.
  virtual void SubmitTwinRequest(const IotHubRequest& request, std::string body) = 0;
  // The device's answer to direct method request `rid`.
  virtual void SubmitMethodResponse(const std::string& rid, int status, std::string payload) = 0;
  // The session subscribed to a feature (methods and C2D can now be delivered to it).
  virtual void Subscribed(SessionFeature feature) = 0;
  // The device acknowledged (PUBACK) the C2D message delivered under `lock_token`.
  virtual void C2dAcknowledged(const std::string& lock_token) = 0;
  virtual int64_t NowMs() = 0;
};

struct SessionLimits {
  // Azure's 256 KB message plus room for the topic and the property bag.
  size_t max_packet_bytes = 256 * 1024 + 16 * 1024;
  // Before CONNECT is accepted, the only packet allowed is CONNECT, which is small (an SDK's is
  // under 1 KB: ids, a user name and a SAS token): a longer one announced closes the connection,
  // so an unauthenticated client cannot make the hub buffer a whole message.
  size_t max_connect_bytes = 16 * 1024;
  int64_t max_keep_alive_s = 1767;
};

class Session {
 public:
  struct Output {
    Bytes to_send;
    bool close = false;    // close the connection after sending
    std::string reason;    // why, for the log (never credentials)
  };

  // host must outlive the session.
  explicit Session(SessionHost& host, SessionLimits limits = {}) : host_(host), limits_(limits) {}

  Output OnBytes(ByteSpan data);
  Output OnDurable(uint16_t packet_id, const Status& stored);
  // Keep-alive and token expiry: call at NextCheckMs() (or any time; early calls do nothing).
  Output OnTick();
  // When OnTick may next close the session (NowMs's clock), or nullopt before CONNECT: one
  // timer per connection armed for then, not a tick per connection per second.
  std::optional<int64_t> NextCheckMs() const;

  // The answer to a twin request: `body` is the document (GET), empty (PATCH) or an error
  // object; `version` the new reported $version of a PATCH.
  Output OnTwinReply(const std::string& rid, int status, const std::string& body,
                     std::optional<int64_t> version);
  // Hub-to-device messages; each sends nothing unless the device subscribed to the feature.
  Output SendDesired(std::string_view patch, int64_t version);
  Output SendMethod(std::string_view name, std::string_view rid, std::string_view payload);
  // QoS 1; the PUBACK reaches the host as C2dAcknowledged(lock_token).
  Output SendC2d(std::string_view topic, ByteSpan payload, std::string lock_token);

  bool subscribed(SessionFeature feature) const {
    return (features_ & static_cast<uint8_t>(feature)) != 0;
  }
  // Lock tokens of C2D messages sent and not acknowledged (to put back when the session ends).
  std::vector<std::string> UnacknowledgedC2d() const;
  size_t c2d_in_flight() const { return c2d_in_flight_.size(); }

  bool connected() const { return state_ == State::kConnected; }
  const std::string& device_id() const { return device_.device_id; }
  const std::optional<std::string>& module_id() const { return device_.module_id; }

 private:
  enum class State { kAwaitConnect, kConnected, kClosed };

  void Close(Output& out, std::string reason);
  void HandleConnect(const Connect& c, Output& out);
  void HandlePublish(const Publish& p, Output& out);
  void HandleSubscribe(const Subscribe& s, Output& out);
  void HandleUnsubscribe(const Unsubscribe& u, Output& out);
  void HandleIotHubRequest(const IotHubRequest& request, const Publish& p, Output& out);
  void Publish0(std::string_view topic, std::string_view payload, Output& out);

  SessionHost& host_;
  SessionLimits limits_;
  State state_ = State::kAwaitConnect;
  hub::AuthenticatedDevice device_;
  std::string events_prefix_;  // "devices/{id}/messages/events" (or the module form)
  int64_t keep_alive_ms_ = 0;  // 0: none
  int64_t last_packet_ms_ = 0;
  Bytes pending_;  // bytes of an incomplete packet
  uint8_t features_ = 0;  // SessionFeature bits subscribed
  size_t twin_requests_ = 0;  // submitted, not answered
  uint16_t next_packet_id_ = 1;
  std::map<uint16_t, std::string> c2d_in_flight_;  // packet id to lock token
};

}  // namespace coffre::mqtt
