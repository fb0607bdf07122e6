#pragma once
// The IoT Hub side of AMQP, as pure functions (unit-tested in tests/amqp): the addresses the
// service client and devices attach to, the conversions between AMQP messages and the hub's C2D
// and telemetry messages (ids, uuid or string, as canonical lower-case text; properties; Data
// bodies), and the error condition a hub refusal becomes on a rejected delivery.

#include <proton/message.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "hub/c2d_message.h"
#include "hub/telemetry_record.h"

namespace coffre::amqp {

// A device link's address, normalized (amqp/router.h): "devices/{id}[/modules/{mid}]/{what}"
// with the ids percent-decoded.
struct DeviceAddress {
  enum class Kind { kEvents, kDevicebound, kTwin, kMethods };
  Kind kind = Kind::kEvents;
  std::string device_id;
  std::optional<std::string> module_id;
};
// "messages/events", "messages/devicebound", "twin", "methods/devicebound"; nullopt otherwise.
std::optional<DeviceAddress> ParseDeviceAddress(std::string_view normalized);

// The device a service C2D message is for, from its `to`: "/devices/{url-encoded id}/messages/
// devicebound" (case-insensitive "messages/devicebound", an amqps://host prefix allowed).
std::optional<std::string> C2dTargetDevice(std::string_view to);

// The C2D message the service sent (properties, iothub-ack, expiry, Data or string body).
// INVALID_ARGUMENT for an unusable iothub-ack or body.
Result<hub::C2dMessage> C2dFromAmqp(const proton::message& m);
// The message a device receives: Data body, ids, to, expiry, application properties,
// iothub-ack.
proton::message C2dToAmqp(const hub::QueuedC2d& c2d, const std::string& device_id);

// A device's telemetry (system properties, annotations, application properties as text).
Result<hub::TelemetryMessage> TelemetryFromAmqp(const proton::message& m);

// The message annotation `key` if it is a string or symbol.
std::optional<std::string> MessageAnnotation(const proton::message& m, const std::string& key);

// The AMQP error condition for a hub refusal of a message (rejected{condition}).
std::string ConditionFor(const Status& status);

}  // namespace coffre::amqp
