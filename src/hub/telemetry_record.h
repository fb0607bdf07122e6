#pragma once
// The plaintext of one stored telemetry message, before the customer layer seals it:
// who sent it, when the hub accepted it, its properties and its body, in a compact binary form
// (docs/formats/telemetry-record.md). Stateless.

#include <optional>
#include <string>

#include "common/bytes.h"
#include "common/result.h"
#include "hub/message.h"

namespace coffre::hub {

struct TelemetryMessage {
  std::string device_id;
  std::optional<std::string> module_id;
  int64_t enqueued_ms = 0;
  MessageProperties properties;
  Bytes body;
  // How the sending connection authenticated, as IoT Hub reports it to Event Hubs readers: the
  // type of iothub-connection-auth-method ("sas", "x509Certificate") and the identity's
  // generation id (iothub-connection-auth-generation-id). Absent in records written before
  // they were kept.
  std::optional<std::string> auth_type;
  std::optional<std::string> auth_generation_id;
};

// Appends the encoded form to `out`, with the enqueued time the store assigned (the message's
// own, moved forward if needed so that times never decrease within a partition).
void EncodeTelemetryRecord(const TelemetryMessage& message, int64_t enqueued_ms, Bytes& out);
// DATA_LOSS if the bytes are not a record of this format.
Result<TelemetryMessage> DecodeTelemetryRecord(ByteSpan record);

}  // namespace coffre::hub
