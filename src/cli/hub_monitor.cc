#include "cli/hub_monitor.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <vector>

#include "cli/json_member.h"
#include "common/encoding.h"
#include "common/time_format.h"

namespace coffre::cli {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int kMaxBatch = 1000;  // the read API's cap
// When a whole round found nothing, each partition's request waits this long for a message:
// short enough that a round over all partitions stays responsive, long enough not to spin.
constexpr std::chrono::milliseconds kIdleWait{250};

// Where the monitor is in one partition: the next sequence number to ask for, or (before the
// first read) the query that finds it.
struct Cursor {
  std::string partition;
  uint64_t next = 0;
  std::string first_query;  // e.g. "fromEnqueuedTime=..." until the first reply
};

std::string AsText(const json& j) { return j.is_string() ? j.get<std::string>() : j.dump(); }

std::optional<uint64_t> ParseOffset(const json& j) {
  if (j.is_number_unsigned()) return j.get<uint64_t>();
  if (!j.is_string()) return std::nullopt;
  const std::string& s = j.get_ref<const std::string&>();
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::string CheckpointPath(const std::string& group, const std::string& partition) {
  return "/telemetry/consumergroups/" + PercentEncode(group) + "/partitions/" +
         PercentEncode(partition) + "/checkpoint";
}

// A consumer group's checkpoint for the partition, if it has one.
Result<std::optional<uint64_t>> LoadCheckpoint(HubClient& hub, const std::string& group,
                                               const std::string& partition) {
  Result<json> reply = hub.Call("GET", CheckpointPath(group, partition));
  if (!reply.has_value()) {
    if (reply.error().code() == StatusCode::kNotFound) return std::optional<uint64_t>();
    return reply.error();
  }
  std::optional<uint64_t> offset = ParseOffset(Member(*reply, "offset"));
  if (!offset) return Internal("the hub's checkpoint is malformed: " + reply->dump());
  return offset;
}

Result<std::vector<Cursor>> StartCursors(HubClient& hub, const MonitorOptions& o) {
  if (!o.consumer_group.empty()) {  // a missing group is an error, not "no checkpoint"
    COFFRE_RETURN_IF_ERROR(
        hub.Call("GET", "/telemetry/consumergroups/" + PercentEncode(o.consumer_group)).status());
  }
  COFFRE_ASSIGN_OR_RETURN(json reply, hub.Call("GET", "/telemetry/partitions"));
  const json& partitions = Member(reply, "partitions");
  std::vector<Cursor> cursors;
  for (const json& p : partitions.is_array() ? partitions : json::array()) {
    std::optional<uint64_t> end = ParseOffset(Member(p, "endSequence"));
    if (!Member(p, "id").is_string() || !end) {
      return Internal("the hub's partition list is malformed: " + p.dump());
    }
    // --from-start begins at the oldest retained message, which retention moves up.
    std::optional<uint64_t> begin = ParseOffset(Member(p, "beginSequence"));
    Cursor cursor{Member(p, "id").get<std::string>(), o.from_start ? begin.value_or(0) : *end, ""};
    if (o.enqueued_time_ms) {
      cursor.first_query = "fromEnqueuedTime=" + PercentEncode(FormatIsoTime(*o.enqueued_time_ms));
    }
    if (!o.consumer_group.empty()) {
      COFFRE_ASSIGN_OR_RETURN(std::optional<uint64_t> checkpoint,
                              LoadCheckpoint(hub, o.consumer_group, cursor.partition));
      if (checkpoint) {
        cursor.next = std::max(*checkpoint, begin.value_or(0));
        cursor.first_query.clear();
      }
    }
    cursors.push_back(std::move(cursor));
  }
  if (cursors.empty()) return Internal("the hub reports no telemetry partitions");
  return cursors;
}

bool Wanted(const json& message, const std::string& device_id) {
  return device_id.empty() || AsText(Member(message, "deviceId")) == device_id;
}

// Reads one batch from `cursor`, prints the wanted messages (no more than `room`, if set), and
// advances the cursor past what it printed or skipped. Returns how many messages of the
// partition it went past, wanted or not, and adds the printed ones to `printed`.
Result<size_t> Poll(HubClient& hub, Cursor& cursor, std::chrono::milliseconds wait,
                    const MonitorOptions& o, std::ostream& out, size_t& printed) {
  std::string path = "/telemetry/partitions/" + PercentEncode(cursor.partition) + "/messages";
  std::string start = cursor.first_query.empty() ? "from=" + std::to_string(cursor.next)
                                                 : cursor.first_query;
  std::string query = start + "&max=" + std::to_string(kMaxBatch) + "&waitMs=" +
                      std::to_string(wait.count());
  COFFRE_ASSIGN_OR_RETURN(json reply, hub.Call("GET", path, nullptr, query));
  const json& messages = Member(reply, "messages");
  std::optional<uint64_t> next = ParseOffset(Member(reply, "nextOffset"));
  if (!messages.is_array() || !next) {
    return Internal("the hub's reply to GET " + path + " is not a message batch");
  }
  size_t passed = 0;
  for (const json& m : messages) {
    if (o.max_messages > 0 && printed == o.max_messages) {
      // Stopping inside the batch: the cursor (and a group's checkpoint) stays on this message,
      // so the next run prints it.
      std::optional<uint64_t> offset = ParseOffset(Member(m, "offset"));
      if (!offset) return Internal("the hub's reply to GET " + path + " has a message without an offset");
      next = offset;
      break;
    }
    if (Wanted(m, o.device_id)) {
      out << (o.json_output ? EventJsonLine(m) : EventLine(m)) << "\n";
      ++printed;
    }
    ++passed;
  }
  out.flush();
  cursor.next = *next;
  cursor.first_query.clear();
  if (!o.consumer_group.empty() && passed > 0) {
    json checkpoint = {{"offset", std::to_string(cursor.next)}};
    COFFRE_RETURN_IF_ERROR(
        hub.Call("PUT", CheckpointPath(o.consumer_group, cursor.partition), &checkpoint).status());
  }
  return passed;
}

// How long the next poll may wait: 0 while messages flow, never past the deadline.
std::chrono::milliseconds WaitFor(bool idle, Clock::time_point deadline, bool bounded) {
  if (!idle) return std::chrono::milliseconds(0);
  if (!bounded) return kIdleWait;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return std::clamp(left, std::chrono::milliseconds(0), kIdleWait);
}

}  // namespace

Status MonitorEvents(HubClient& hub, const MonitorOptions& o, std::ostream& out) {
  bool bounded = o.run_for.count() > 0;
  Clock::time_point deadline = bounded ? Clock::now() + o.run_for : Clock::time_point::max();
  COFFRE_ASSIGN_OR_RETURN(std::vector<Cursor> cursors, StartCursors(hub, o));
  bool idle = false;
  size_t printed = 0;
  auto done = [&] { return Clock::now() >= deadline || (o.max_messages > 0 && printed == o.max_messages); };
  while (!done()) {
    size_t seen = 0;
    for (Cursor& cursor : cursors) {
      std::chrono::milliseconds wait = WaitFor(idle, deadline, bounded);
      COFFRE_ASSIGN_OR_RETURN(size_t n, Poll(hub, cursor, wait, o, out, printed));
      seen += n;
      if (done()) break;
    }
    idle = seen == 0;
  }
  return Status::Ok();
}

std::string EventJsonLine(const json& m) {
  nlohmann::ordered_json line;
  line["deviceId"] = Member(m, "deviceId");
  line["body"] = Member(m, "body");
  if (AsText(Member(m, "bodyEncoding")) == "base64") line["bodyEncoding"] = "base64";
  const json& properties = Member(m, "properties");
  const json& system = Member(m, "systemProperties");
  line["properties"] = properties.is_object() ? properties : json::object();
  line["systemProperties"] = system.is_object() ? system : json::object();
  for (const char* field : {"partition", "offset", "sequenceNumber", "enqueuedTime"}) {
    line[field] = Member(m, field);
  }
  return line.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string EventLine(const json& m) {
  std::string body = AsText(Member(m, "body"));
  // One message, one line: a body with line breaks prints as a JSON string.
  if (body.find_first_of("\r\n") != std::string::npos) body = json(body).dump();
  if (AsText(Member(m, "bodyEncoding")) == "base64") body = "base64:" + body;
  std::string line = AsText(Member(m, "enqueuedTime")) + "  " + AsText(Member(m, "deviceId")) + "  " +
                     AsText(Member(m, "partition")) + "/" + AsText(Member(m, "offset")) + "  " + body;
  const json& properties = Member(m, "properties");
  if (properties.is_object() && !properties.empty()) line += "  " + properties.dump();
  return line;
}

}  // namespace coffre::cli
