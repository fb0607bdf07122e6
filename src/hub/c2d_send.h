#pragma once
// The service's cloud-to-device send, whatever carries it (the HTTPS route hubapi/c2d_service_api
// and the AMQP sender on /messages/devicebound): the device must exist, the message passes the
// checks below, and it is queued for the device's current generation. Blocking (a store write):
// call it off the io threads. Thread-safe.

#include <functional>
#include <string>

#include "common/result.h"
#include "hub/c2d_message.h"
#include "hub/c2d_queues.h"
#include "hub/registry.h"

namespace coffre::hub {

// INVALID_ARGUMENT for a message id over 128 characters or a property (name or value) with a
// control character or invalid UTF-8: each goes back out as an MQTT topic or HTTP header.
Status CheckC2dMessage(const C2dMessage& message);

// NOT_FOUND (the registry's DeviceNotFound) for an unknown device, then what `build` or
// CheckC2dMessage refuse, then C2dQueues::Enqueue's refusals (queue full, too large).
Status SendC2d(Registry& registry, C2dQueues& queues, const std::string& device_id,
               const std::function<Result<C2dMessage>()>& build);

}  // namespace coffre::hub
