#pragma once
// `coffre hub monitor-events`: tails the device-to-cloud stream through the hub's read API
// (docs/formats/read-api.md), polling every partition in turn from its end (or its start, or an
// enqueued time, or a consumer group's checkpoints), and prints each message as it comes: a
// readable line, or one JSON object per line. With a consumer group it commits each partition's
// checkpoint after printing a batch, so the next run resumes there (at least once). Stateless.

#include <chrono>
#include <optional>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "cli/hub_connection.h"

namespace coffre::cli {

struct MonitorOptions {
  std::string device_id;  // empty: every device
  bool from_start = false;
  std::optional<int64_t> enqueued_time_ms;  // start at the first message enqueued at or after
  std::string consumer_group;               // resume from and commit its checkpoints
  std::chrono::milliseconds run_for{0};  // 0: until interrupted
  size_t max_messages = 0;  // stop once this many wanted messages are printed; 0: no limit
  bool json_output = false;
};

// Returns OK once run_for has passed or max_messages were printed; the first error otherwise. Flushes `out` after each
// batch, so a pipe sees messages as they arrive.
Status MonitorEvents(HubClient& hub, const MonitorOptions& options, std::ostream& out);

// One read API message as the JSON line --output json prints: deviceId, body, properties,
// systemProperties, partition, offset, sequenceNumber, enqueuedTime (and bodyEncoding when
// the body is base64).
std::string EventJsonLine(const nlohmann::json& message);

// The readable form: "<enqueuedTime>  <deviceId>  <partition>/<offset>  <body>  <properties>".
std::string EventLine(const nlohmann::json& message);

}  // namespace coffre::cli
