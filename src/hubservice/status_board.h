#pragma once
// StatusBoard: what the hub's status page shows (hubapi/status_page_api.h). Once a second it
// records the customer key's status (hub::KeyTimeline; a flip the monitor reports between two
// samples is recorded as it happens, through KeyChanged) and the telemetry rate and
// acknowledgement latency (hub::TrafficHistory, from the hub's metrics); Data() adds the key's
// state, connections and partitions as they are now. Thread-safe.

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "hub/encryption_settings.h"
#include "hub/hub_metrics.h"
#include "hub/key_monitor.h"
#include "hub/key_timeline.h"
#include "hub/telemetry_store.h"
#include "hub/traffic_history.h"

namespace coffre::hubservice {

struct StatusSources {
  hub::KeyMonitor& monitor;
  hub::EncryptionConfig& config;
  hub::HubMetrics& metrics;
  hub::TelemetryStore& store;
  std::string hub_name;
  std::function<size_t()> https_connections;  // the HTTPS port's own; 0 before it listens
};

class StatusBoard {
 public:
  explicit StatusBoard(StatusSources sources);
  ~StatusBoard();  // Stop()

  void Start();  // the sampling thread
  void Stop();

  // One sample (the thread's tick; tests call it with their own times).
  void Sample(int64_t now_ms);
  // The monitor's report of a change (HubService::OnKeyStatus).
  void KeyChanged(const hub::EncryptionStatus& status);

  // GET /$coffre/status/data's answer.
  nlohmann::json Data() const;
  // While the key is inaccessible: its state, reason and since (nothing more: the caller cannot
  // be authenticated then); nullopt while usable.
  std::optional<nlohmann::json> Inaccessible() const;

 private:
  void Run();

  StatusSources sources_;
  const int64_t started_ms_;
  hub::KeyTimeline timeline_;
  hub::TrafficHistory traffic_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace coffre::hubservice
