#pragma once
// Telemetry messages for the store's tests: device `device`'s message `n`, enqueued n ms after
// a fixed time, with message id "<device>-<n>" and body {"n":n}.

#include <string>

#include "hub/telemetry_record.h"

namespace coffre::testing {

inline hub::TelemetryMessage NumberedMessage(const std::string& device, int n) {
  hub::TelemetryMessage m;
  m.device_id = device;
  m.enqueued_ms = 1'800'000'000'000 + n;
  m.properties.system.message_id = device + "-" + std::to_string(n);
  m.body = ToBytes("{\"n\":" + std::to_string(n) + "}");
  return m;
}

}  // namespace coffre::testing
