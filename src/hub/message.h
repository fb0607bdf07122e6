#pragma once
// A device-to-cloud message as the hub keeps it: who sent it, Azure's system properties, the
// application properties in the order sent, and the body. Protocol front ends (MQTT, HTTPS)
// fill it; the telemetry store seals and stores it. Value type, thread-compatible.

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

namespace coffre::hub {

// Azure's limit on one message: body + system property values + application property names and
// values (iothub-protocol.md §7).
inline constexpr size_t kMaxMessageBytes = 256 * 1024;

struct SystemProperties {
  std::optional<std::string> message_id;        // $.mid
  std::optional<std::string> correlation_id;    // $.cid
  std::optional<std::string> user_id;           // $.uid
  std::optional<std::string> to;                // $.to
  std::optional<std::string> content_type;      // $.ct
  std::optional<std::string> content_encoding;  // $.ce
  std::optional<std::string> expiry_time;       // $.exp, ISO 8601
  std::optional<std::string> interface_id;      // $.ifid
  std::optional<std::string> subject;           // $.sub (dt-subject)
  std::optional<std::string> output_name;       // $.on (module outputs)
};

struct MessageProperties {
  SystemProperties system;
  std::vector<std::pair<std::string, std::string>> application;  // in the order sent
};

// Bytes counted against kMaxMessageBytes for `body_size` and `properties`.
size_t AccountedMessageSize(size_t body_size, const MessageProperties& properties);

// RESOURCE_EXHAUSTED with Azure's wording when over kMaxMessageBytes.
Status CheckMessageSize(size_t body_size, const MessageProperties& properties);

}  // namespace coffre::hub
