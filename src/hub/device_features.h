#pragma once
// DeviceFeatures: what the hub offers a connected device beyond telemetry (twins, direct
// methods, cloud-to-device messages), whatever protocol carries it (the MQTT and the AMQP front
// ends both call it). Front ends call it from their connection strands; the implementation
// (hubservice, where the hub's parts are wired) does any blocking work off the io threads and
// answers through the callbacks, from any thread. Thread-safe.

#include <functional>
#include <optional>
#include <string>

#include "hub/c2d_message.h"
#include "hub/twin_store.h"

namespace coffre::hub {

// A device's own twin request: read the twin, or patch its reported properties.
enum class TwinRequestKind { kGet, kReportedPatch };

class DeviceFeatures {
 public:
  virtual ~DeviceFeatures() = default;

  // The answer to a twin GET or reported PATCH: the status, the body (the document, empty, or an
  // error object the SDK reads) and, for a PATCH, the new reported $version.
  using TwinReply = std::function<void(int status, std::string body, std::optional<int64_t> version)>;
  virtual void TwinRequest(const TwinId& id, TwinRequestKind kind, std::string body,
                           TwinReply reply) = 0;

  // The device's answer to a direct method; a session that subscribed to methods.
  virtual void MethodResponse(const TwinId& id, const std::string& rid, int status,
                              std::string payload) = 0;
  virtual void MethodsSubscribed(const TwinId& id) = 0;

  // The next C2D message of the device, locked for this delivery, or nullopt.
  using C2dNext = std::function<void(std::optional<QueuedC2d>)>;
  virtual void NextC2d(const std::string& device_id, C2dNext done) = 0;
  virtual void CompleteC2d(const std::string& device_id, const std::string& lock_token) = 0;
  virtual void AbandonC2d(const std::string& device_id, const std::string& lock_token) = 0;
  // Dead-letters the message (feedback "Rejected"); AMQP only (MQTT has no reject).
  virtual void RejectC2d(const std::string& device_id, const std::string& lock_token) = 0;
};

}  // namespace coffre::hub
