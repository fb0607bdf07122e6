#pragma once
// Telemetry into a running HubService for tests: through its ingest, whose writer threads own
// the partitions. Appending to the store from a test thread instead races a writer's retention
// pass on the same partition (the store takes one writer per partition): seen as "the log was
// resumed already".

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "hub/telemetry_ingest.h"
#include "hub/telemetry_store.h"

namespace coffre::testing {

// Submits every message in order and waits (at most 30 s) until all are stored; the first
// error otherwise.
inline Status StoreThroughIngest(hub::TelemetryIngest& ingest,
                                 std::vector<hub::TelemetryMessage> messages) {
  std::mutex mu;
  std::condition_variable done;
  size_t pending = messages.size();
  Status first_error;
  for (hub::TelemetryMessage& m : messages) {
    Status submitted = ingest.Submit(std::move(m), [&](const Status& s) {
      std::lock_guard<std::mutex> guard(mu);
      if (!s.ok() && first_error.ok()) first_error = s;
      if (--pending == 0) done.notify_all();
    });
    if (!submitted.ok()) {
      // Those submitted still answer into this frame: wait for them before returning.
      std::unique_lock<std::mutex> lock(mu);
      pending -= static_cast<size_t>(&messages.back() - &m) + 1;
      done.wait(lock, [&] { return pending == 0; });
      return submitted;
    }
  }
  std::unique_lock<std::mutex> lock(mu);
  if (!done.wait_for(lock, std::chrono::seconds(30), [&] { return pending == 0; })) {
    done.wait(lock, [&] { return pending == 0; });  // never leave callbacks pointing here
    return DeadlineExceeded("the messages were not stored within 30 s");
  }
  return first_error;
}

// A device id the store puts in `partition`.
inline std::string DeviceInPartition(const hub::TelemetryStore& store, int partition) {
  for (int i = 0;; ++i) {
    std::string id = "device-" + std::to_string(i);
    if (store.PartitionOf(id) == partition) return id;
  }
}

}  // namespace coffre::testing
