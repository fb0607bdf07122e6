#pragma once
// DeviceFeatures: what the hub offers MQTT devices beyond telemetry (twins, direct methods,
// cloud-to-device messages). The MQTT server calls it from connection strands; the
// implementation (above mqtt, where the hub's parts are wired) does any blocking work off the io
// threads and answers through the callbacks, from any thread. Thread-safe.

#include <functional>
#include <optional>
#include <string>

#include "hub/c2d_message.h"
#include "hub/twin_store.h"
#include "mqtt/iothub_topics.h"

namespace coffre::mqtt {

class DeviceFeatures {
 public:
  virtual ~DeviceFeatures() = default;

  // The answer to a twin GET or reported PATCH: the status, the body (the document, empty, or an
  // error object the SDK reads) and, for a PATCH, the new reported $version.
  using TwinReply = std::function<void(int status, std::string body, std::optional<int64_t> version)>;
  virtual void TwinRequest(const hub::TwinId& id, const IotHubRequest& request, std::string body,
                           TwinReply reply) = 0;

  // The device's answer to a direct method; a session that subscribed to methods.
  virtual void MethodResponse(const hub::TwinId& id, const std::string& rid, int status,
                              std::string payload) = 0;
  virtual void MethodsSubscribed(const hub::TwinId& id) = 0;

  // The next C2D message of the device, locked for this delivery, or nullopt.
  using C2dNext = std::function<void(std::optional<hub::QueuedC2d>)>;
  virtual void NextC2d(const std::string& device_id, C2dNext done) = 0;
  virtual void CompleteC2d(const std::string& device_id, const std::string& lock_token) = 0;
  virtual void AbandonC2d(const std::string& device_id, const std::string& lock_token) = 0;
};

}  // namespace coffre::mqtt
