#pragma once
// The IoT Hub MQTT topic names (iothub-protocol.md §3.3-3.7): which device a telemetry PUBLISH
// belongs to and what its property bag says. The bag is `name=value` pairs joined by '&',
// percent-decoded ('+' stays '+'); `$.xxx` names are system properties (also when the '$' came
// escaped as %24), others are application properties. Stateless, thread-safe.

#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "hub/message.h"

namespace coffre::mqtt {

// Limits on the bag beyond the message size (Azure caps neither clearly; these keep one
// PUBLISH from costing more than its bytes in parsing): pairs and length of one name.
inline constexpr size_t kMaxBagProperties = 256;
inline constexpr size_t kMaxPropertyNameBytes = 1024;

struct TelemetryTopic {
  std::string_view device_id;
  std::optional<std::string_view> module_id;
  std::string_view bag;  // raw, after "messages/events/"
};

// "devices/{id}/messages/events/{bag}" or "devices/{id}/modules/{mid}/messages/events/{bag}";
// nullopt if the topic is some other (maybe valid) IoT Hub topic.
std::optional<TelemetryTopic> MatchTelemetryTopic(std::string_view topic);

// INVALID_ARGUMENT for a bag that breaks the rules (too many pairs, an empty or oversize name,
// text that is not UTF-8, a message-id over 128 characters).
Result<hub::MessageProperties> ParsePropertyBag(std::string_view bag);

// The C2D direction: a bag the SDK reads back (every value percent-encoded, no raw '/', and
// `name=` for empty values).
std::string FormatPropertyBag(const hub::MessageProperties& properties);

}  // namespace coffre::mqtt
