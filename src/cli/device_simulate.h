#pragma once
// `coffre hub device simulate ID`: a device sending telemetry over MQTT (TLS) at a steady rate
// for a while, as `az iot device simulate` does: it connects to the hub the login names with the
// device's own SAS token, publishes QoS 1 to devices/{id}/messages/events/{properties}, reads the
// PUBACKs, shows its progress on stderr each second (cli/progress.h) and prints a summary: sent,
// acknowledged, not acknowledged, the acknowledgement latency's p50, p99 and max, and how long it
// took. OK only if every message was acknowledged; a refused CONNECT, a closed connection (the
// device disabled, the customer key made unusable...) or PUBACKs still missing 10 s after the
// last send are errors. Bounded: rate * duration messages, at most 65535 unacknowledged at once,
// and no wait longer than 10 s. Thread-compatible.

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli/hub_command.h"
#include "common/result.h"

namespace coffre::cli {

inline constexpr int kMaxSimulateRate = 10'000;      // messages per second
inline constexpr int kMaxSimulateDuration = 86'400;  // seconds

struct SimulateOptions {
  std::string device_id;
  int rate = 1;         // messages per second, 1..kMaxSimulateRate
  int duration_s = 10;  // 1..kMaxSimulateDuration
  std::string message = "simulated message {n}";  // "{n}": the message's number
  std::vector<std::pair<std::string, std::string>> properties;  // application properties
  std::string content_type;  // $.ct (with $.ce=utf-8), as the SDKs send it; empty: none
  uint16_t mqtt_port = 0;    // 0: the stack's (connection.json), else 8883
};

// Message options shared with `coffre hub device send`: "{n}" in `text` replaced by n, and
// "name=value" properties split (INVALID_ARGUMENT for one without a name or '=').
std::string NumberedMessage(std::string_view text, int64_t n);
Result<std::vector<std::pair<std::string, std::string>>> ParseProperties(
    const std::vector<std::string>& name_values);

// Latencies in microseconds within 1/64 (1.6%): exact below 64 us, then 64 steps in each power
// of two up to 2^40 us (12 days; longer ones count as that). Value type.
class LatencyHistogram {
 public:
  void Add(int64_t us);
  int64_t count() const { return count_; }
  int64_t max() const { return max_; }
  // The smallest bucket bound at or above a `q` share (0 < q <= 1) of the values, never above
  // max(); 0 when empty.
  int64_t Quantile(double q) const;

 private:
  static constexpr int kSteps = 64;
  static size_t Bucket(int64_t us);
  static int64_t UpperBound(size_t bucket);

  static constexpr int kMaxBits = 40;
  std::array<int64_t, kSteps * (kMaxBits - 5)> counts_{};
  int64_t count_ = 0;
  int64_t max_ = 0;
};

// Runs the simulation as `sas_token`'s device against c's hub and prints the summary to c.out
// (also when an error ends it once messages went out), progress to stderr.
Status SimulateDevice(Context& c, const SimulateOptions& options, const std::string& sas_token);

}  // namespace coffre::cli
