#pragma once
// TelemetryIngest: the write path of the telemetry store with group commit. A few writer threads
// (as many as cores, at most one per partition) each own some partitions; front ends Submit
// messages from any thread, and a writer takes everything queued for its partitions (up to a
// batch limit), seals and appends it, makes each partition durable with one fdatasync, and
// only then calls each message's completion. So a PUBACK never precedes durability, and the
// cost of a sync is shared by every message that arrived meanwhile. The writers also run
// retention: every `retention_check_every`, whole segments older than `retention` go.
// Thread-safe. Completions run on the partition's writer thread: keep them short (post to the
// connection's strand).

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "hub/hub_metrics.h"
#include "hub/telemetry_store.h"

namespace coffre::hub {

struct IngestOptions {
  int writers = 0;  // 0: min(partitions, cores); fewer threads, fewer hand-offs on few cores
  size_t max_batch_messages = 4096;
  size_t max_queued_messages = 65536;  // beyond this Submit refuses (back-pressure)
  // Group commit with a bounded wait: a batch of fewer than `small_batch` messages waits
  // `commit_delay` once for company, so one fdatasync (and one rewrite of the log's last,
  // partly filled page) serves more messages. 0: commit at once.
  std::chrono::microseconds commit_delay{500};
  size_t small_batch = 64;
  std::chrono::milliseconds retention{std::chrono::hours(24)};  // Azure: 1 to 7 days
  std::chrono::milliseconds retention_check_every{std::chrono::minutes(1)};
  const Clock* clock = &SystemClock();  // wall time, for retention; must outlive the ingest
  // Acknowledgement latency, commit sizes and times, messages stored (null: none counted); must
  // outlive the ingest.
  HubMetrics* metrics = nullptr;
};

struct IngestStats {
  uint64_t messages = 0;
  uint64_t commits = 0;  // fdatasyncs: messages / commits is the group-commit factor
  uint64_t expired_segments = 0;
};

class TelemetryIngest {
 public:
  using Completion = std::function<void(const Status&)>;

  // store must outlive the ingest. Starts the writer threads.
  TelemetryIngest(TelemetryStore& store, IngestOptions options = {});
  ~TelemetryIngest();  // Stop()

  // Refuses new messages, stores what is queued (completions run), joins the writers.
  // Idempotent. Call it while whatever the completions post to is still alive.
  void Stop();

  // RESOURCE_EXHAUSTED (completion not called) when the partition's queue is full.
  Status Submit(TelemetryMessage message, Completion done);

  IngestStats stats() const;
  size_t queued() const;  // messages submitted and not yet taken by a writer

 private:
  struct Pending {
    int partition;
    TelemetryMessage message;
    Completion done;
    std::chrono::steady_clock::time_point submitted;
  };
  struct Queue {  // one per writer
    mutable std::mutex mu;
    std::condition_variable ready;
    std::deque<Pending> items;
    bool stopping = false;
  };
  void Run(int writer);
  void ExpireIfDue(int writer, std::chrono::steady_clock::time_point& next_check);
  int WriterOf(int partition) const { return partition % static_cast<int>(queues_.size()); }

  TelemetryStore& store_;
  IngestOptions options_;
  std::vector<std::unique_ptr<Queue>> queues_;
  std::vector<std::thread> writers_;
  mutable std::mutex stats_mu_;
  IngestStats stats_;
};

}  // namespace coffre::hub
