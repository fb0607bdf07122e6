#include "cli/device_simulate.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/mqtt_device.h"
#include "cli/progress.h"
#include "hub/message.h"
#include "mqtt/topics.h"

namespace coffre::cli {
namespace {

using nlohmann::json;
using Clock = MqttDevice::Clock;

// The port the Azure SDKs' MQTT transports use unless told otherwise.
constexpr uint16_t kDefaultMqttPort = 8883;
// How long PUBACKs may take after the last send, and the longest any one wait may be.
constexpr auto kAckWait = std::chrono::seconds(10);
constexpr auto kShowEvery = std::chrono::seconds(1);
// Packet ids are 16 bits and 0 is not one: at most this many messages unacknowledged at once.
constexpr size_t kPacketIds = 65535;

// What a run has done so far.
struct Tally {
  int64_t total = 0;
  int64_t sent = 0;
  int64_t acknowledged = 0;
  LatencyHistogram latency;
  Clock::time_point began{};
};

double Millis(int64_t us) { return std::round(static_cast<double>(us) / 100.0) / 10.0; }

std::string ProgressText(const std::string& device, const Tally& t) {
  return device + ": " + std::to_string(t.sent) + " of " + std::to_string(t.total) + " sent, " +
         std::to_string(t.acknowledged) + " acknowledged, " + Seconds(Clock::now() - t.began);
}

json Summary(const std::string& device, const Tally& t, Clock::time_point ended) {
  auto seconds = std::chrono::duration_cast<std::chrono::milliseconds>(ended - t.began);
  json out = {{"deviceId", device},
              {"sent", t.sent},
              {"acknowledged", t.acknowledged},
              {"notAcknowledged", t.sent - t.acknowledged},
              {"p50Ms", nullptr},
              {"p99Ms", nullptr},
              {"maxMs", nullptr},
              {"seconds", std::round(static_cast<double>(seconds.count()) / 100.0) / 10.0}};
  if (t.latency.count() > 0) {
    out["p50Ms"] = Millis(t.latency.Quantile(0.5));
    out["p99Ms"] = Millis(t.latency.Quantile(0.99));
    out["maxMs"] = Millis(t.latency.max());
  }
  return out;
}

Table SummaryTable(const json& s) {
  Table t;
  t.AddRow({"DEVICE ID", Cell(s, "deviceId")});
  t.AddRow({"SENT", Cell(s, "sent")});
  t.AddRow({"ACKNOWLEDGED", Cell(s, "acknowledged")});
  t.AddRow({"NOT ACKNOWLEDGED", Cell(s, "notAcknowledged")});
  t.AddRow({"LATENCY P50 MS", Cell(s, "p50Ms")});
  t.AddRow({"LATENCY P99 MS", Cell(s, "p99Ms")});
  t.AddRow({"LATENCY MAX MS", Cell(s, "maxMs")});
  t.AddRow({"SECONDS", Cell(s, "seconds")});
  return t;
}

// The messages' properties: the application ones, and the content type as the SDKs send it.
hub::MessageProperties Properties(const SimulateOptions& o) {
  hub::MessageProperties properties;
  if (!o.content_type.empty()) {
    properties.system.content_type = o.content_type;
    properties.system.content_encoding = "utf-8";
  }
  properties.application = o.properties;
  return properties;
}

// The messages in flight by packet id, and their send times.
class InFlight {
 public:
  InFlight() : sent_at_(kPacketIds + 1), used_(kPacketIds + 1, false) {}

  size_t size() const { return size_; }
  bool full() const { return size_ == kPacketIds; }

  // A free packet id (not full()), marked as sent at `at`.
  uint16_t Take(Clock::time_point at) {
    while (next_ == 0 || used_[next_]) ++next_;  // wraps to 0, skipped
    uint16_t id = next_++;
    used_[id] = true;
    sent_at_[id] = at;
    ++size_;
    return id;
  }

  // When `id` was sent, and it is free again; nullopt for an id not in flight (a duplicate).
  std::optional<Clock::time_point> Release(uint16_t id) {
    if (!used_[id]) return std::nullopt;
    used_[id] = false;
    --size_;
    return sent_at_[id];
  }

 private:
  std::vector<Clock::time_point> sent_at_;
  std::vector<bool> used_;
  size_t size_ = 0;
  uint16_t next_ = 1;
};

// Counts the PUBACKs the device has read.
void TakeAcks(MqttDevice& device, InFlight& in_flight, Tally& t) {
  for (const MqttDevice::Ack& ack : device.TakeAcks()) {
    std::optional<Clock::time_point> sent = in_flight.Release(ack.packet_id);
    if (!sent) continue;
    ++t.acknowledged;
    t.latency.Add(std::chrono::duration_cast<std::chrono::microseconds>(ack.at - *sent).count());
  }
}

// Sends t.total messages at o.rate per second and waits for their PUBACKs (kAckWait after the
// last send at most), showing progress each second.
Status Run(MqttDevice& device, const SimulateOptions& o, Tally& t, ProgressLine& progress) {
  // "devices/{id}/messages/events/{bag}", the bag as the SDKs write it.
  const std::string topic =
      "devices/" + o.device_id + "/messages/events/" + mqtt::FormatPropertyBag(Properties(o));
  const auto interval = std::chrono::nanoseconds(std::chrono::seconds(1)) / o.rate;
  InFlight in_flight;
  Clock::time_point next_show = t.began + kShowEvery;
  Clock::time_point last_send = t.began;
  bool full = false;  // every packet id in flight, since full_since
  Clock::time_point full_since{};
  auto show = [&](Clock::time_point now) {
    if (now < next_show) return;
    progress.Show(ProgressText(o.device_id, t));
    next_show = std::max(next_show + kShowEvery, now);
  };
  auto receive = [&](Clock::time_point until) {
    Status s = device.Receive(until);
    TakeAcks(device, in_flight, t);
    return s;
  };

  while (t.sent < t.total) {
    Clock::time_point now = Clock::now();
    show(now);
    Clock::time_point due = t.began + interval * t.sent;
    if (now < due) {
      COFFRE_RETURN_IF_ERROR(receive(std::min(due, next_show)));
      continue;
    }
    if (in_flight.full()) {
      // No more until a PUBACK frees a packet id.
      if (!full) full_since = now;
      full = true;
      if (now - full_since >= kAckWait) {
        return DeadlineExceeded("no PUBACK for " + std::to_string(kAckWait.count()) + " s with " +
                                std::to_string(in_flight.size()) + " messages unacknowledged");
      }
      COFFRE_RETURN_IF_ERROR(receive(std::min(full_since + kAckWait, next_show)));
      continue;
    }
    full = false;
    std::string body = NumberedMessage(o.message, t.sent + 1);
    uint16_t id = in_flight.Take(now);
    COFFRE_RETURN_IF_ERROR(device.Publish(topic, AsBytes(body), id, now + kAckWait));
    ++t.sent;
    last_send = now;
    // Behind the schedule, messages go out back to back: read what came between them.
    if (t.sent % 64 == 0) COFFRE_RETURN_IF_ERROR(receive(now));
  }
  Clock::time_point give_up = last_send + kAckWait;
  while (in_flight.size() > 0) {
    Clock::time_point now = Clock::now();
    if (now >= give_up) {
      return DeadlineExceeded(std::to_string(in_flight.size()) + " of " + std::to_string(t.sent) +
                              " messages not acknowledged " + std::to_string(kAckWait.count()) +
                              " s after the last was sent");
    }
    show(now);
    COFFRE_RETURN_IF_ERROR(receive(std::min(give_up, next_show)));
  }
  return Status::Ok();
}

}  // namespace

std::string NumberedMessage(std::string_view text, int64_t n) {
  std::string out(text);
  std::string number = std::to_string(n);
  for (size_t at = out.find("{n}"); at != std::string::npos; at = out.find("{n}", at)) {
    out.replace(at, 3, number);
    at += number.size();
  }
  return out;
}

Result<std::vector<std::pair<std::string, std::string>>> ParseProperties(
    const std::vector<std::string>& name_values) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& p : name_values) {
    size_t eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      return InvalidArgument("--props takes name=value, not '" + p + "'");
    }
    out.emplace_back(p.substr(0, eq), p.substr(eq + 1));
  }
  return out;
}

size_t LatencyHistogram::Bucket(int64_t us) {
  auto v = static_cast<uint64_t>(std::clamp<int64_t>(us, 0, (int64_t{1} << kMaxBits) - 1));
  if (v < kSteps) return v;
  int high = std::bit_width(v) - 1;  // 6 ..  kMaxBits - 1
  int shift = high - 6;
  return static_cast<size_t>(shift + 1) * kSteps + ((v >> shift) - kSteps);
}

int64_t LatencyHistogram::UpperBound(size_t bucket) {
  if (bucket < kSteps) return static_cast<int64_t>(bucket);
  int shift = static_cast<int>(bucket / kSteps) - 1;
  int64_t step = static_cast<int64_t>(bucket % kSteps) + kSteps;
  return ((step + 1) << shift) - 1;
}

void LatencyHistogram::Add(int64_t us) {
  ++counts_[Bucket(us)];
  ++count_;
  max_ = std::max(max_, us);
}

int64_t LatencyHistogram::Quantile(double q) const {
  if (count_ == 0) return 0;
  auto rank = static_cast<int64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::clamp<int64_t>(rank, 1, count_);
  int64_t seen = 0;
  for (size_t b = 0; b < counts_.size(); ++b) {
    seen += counts_[b];
    if (seen >= rank) return std::min(UpperBound(b), max_);
  }
  return max_;
}

Status SimulateDevice(Context& c, const SimulateOptions& o, const std::string& sas_token) {
  const HubConnection& hub = c.hub.connection();
  Tally t;
  t.total = int64_t{o.rate} * o.duration_s;
  // The hub closes a connection over a message too large: refused here instead.
  COFFRE_RETURN_IF_ERROR(
      hub::CheckMessageSize(NumberedMessage(o.message, t.total).size(), Properties(o)));
  MqttDeviceOptions mqtt;
  mqtt.host = hub.host;
  mqtt.port = o.mqtt_port != 0 ? o.mqtt_port : hub.mqtt_port;
  if (mqtt.port == 0) mqtt.port = kDefaultMqttPort;
  mqtt.ca_file = hub.ca_file;
  mqtt.client_id = o.device_id;
  mqtt.username = hub.host + "/" + o.device_id + "/?api-version=2021-04-12";
  mqtt.password = sas_token;
  COFFRE_ASSIGN_OR_RETURN(std::unique_ptr<MqttDevice> device, MqttDevice::Connect(mqtt));

  ProgressLine progress(std::cerr, StderrIsTerminal());
  t.began = Clock::now();
  Status run = Run(*device, o, t, progress);
  Clock::time_point ended = Clock::now();
  if (run.ok()) {
    device->Disconnect();
    progress.Print(o.device_id + ": " + std::to_string(t.sent) + " sent, all acknowledged, " +
                   Seconds(ended - t.began));
  } else {
    // Ends the terminal's line before the summary and the error.
    progress.Print(o.device_id + ": stopped: " + std::to_string(t.sent) + " sent, " +
                   std::to_string(t.acknowledged) + " acknowledged, " + Seconds(ended - t.began));
  }
  json summary = Summary(o.device_id, t, ended);
  COFFRE_RETURN_IF_ERROR(Print(c, summary, SummaryTable));
  if (run.ok()) return run;
  if (run.code() == StatusCode::kUnavailable) {
    // MQTT 3.1.1 gives no reason; these are the hub's.
    run = Status(run.code(), run.message() +
                                 ": the device disabled, deleted or its key replaced, the hub's "
                                 "customer key made unusable, or the hub stopped");
  }
  return run.WithContext("after " + std::to_string(t.sent) + " messages sent, " +
                         std::to_string(t.acknowledged) + " acknowledged");
}

}  // namespace coffre::cli
