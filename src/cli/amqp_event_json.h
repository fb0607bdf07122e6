#pragma once
// An event read from an Event Hubs-compatible endpoint, as the read API's message JSON
// (docs/formats/read-api.md), so that EventLine/EventJsonLine (cli/hub_monitor.h) print it as they
// print a read API message: x-opt-offset, x-opt-sequence-number and x-opt-enqueued-time become
// offset, sequenceNumber and enqueuedTime; the message's properties (message id, correlation id,
// user id, to, content type and encoding, absolute expiry time) and the IoT Hub annotations
// (iothub-connection-device-id, -module-id, iothub-enqueuedtime, iothub-message-source,
// iothub-interface-id as interfaceId, dt-subject, and any other non-x-opt one) become
// systemProperties; application properties become properties (as text); a Data body is text or
// base64 by the read API's rule. The connection's authentication annotations
// (iothub-connection-auth-method, -auth-generation-id) are not in the read API and are left out.
// Reads the message without throwing. Stateless.

#include <nlohmann/json.hpp>
#include <string>

namespace proton {
class message;
}

namespace coffre::cli {

nlohmann::json AmqpEventJson(const proton::message& m, const std::string& partition);

}  // namespace coffre::cli
