#include "hub/telemetry_ingest.h"

#include <algorithm>

#include "common/log.h"

namespace coffre::hub {
namespace {

// A partition's batch, once its completions ran: its size, and each message's wait.
void Count(HubMetrics& metrics, const Status& status,
           const std::vector<std::chrono::steady_clock::time_point>& submitted) {
  if (!status.ok()) return metrics.messages_not_stored.Inc(submitted.size());
  metrics.group_commit_messages.Observe(static_cast<double>(submitted.size()));
  metrics.messages_stored.Inc(submitted.size());
  auto now = std::chrono::steady_clock::now();
  for (auto at : submitted) {
    metrics.ack_latency.Observe(std::chrono::duration<double>(now - at).count());
  }
}

}  // namespace

TelemetryIngest::TelemetryIngest(TelemetryStore& store, IngestOptions options)
    : store_(store), options_(options) {
  int writers = options_.writers > 0
                    ? options_.writers
                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  writers = std::min(writers, store_.partitions());
  for (int w = 0; w < writers; ++w) queues_.push_back(std::make_unique<Queue>());
  for (int w = 0; w < writers; ++w) writers_.emplace_back([this, w] { Run(w); });
}

TelemetryIngest::~TelemetryIngest() { Stop(); }

void TelemetryIngest::Stop() {
  for (auto& q : queues_) {
    std::lock_guard<std::mutex> guard(q->mu);
    q->stopping = true;
    q->ready.notify_all();
  }
  for (auto& t : writers_) {
    if (t.joinable()) t.join();
  }
}

Status TelemetryIngest::Submit(TelemetryMessage message, Completion done) {
  int partition = store_.PartitionOf(message.device_id);
  Queue& q = *queues_[static_cast<size_t>(WriterOf(partition))];
  std::lock_guard<std::mutex> guard(q.mu);
  if (q.stopping) return Unavailable("the telemetry store is shutting down");
  if (q.items.size() >= options_.max_queued_messages) {
    return ResourceExhausted("too many telemetry messages are waiting to be stored");
  }
  q.items.push_back(
      {partition, std::move(message), std::move(done), std::chrono::steady_clock::now()});
  q.ready.notify_one();
  return Status::Ok();
}

IngestStats TelemetryIngest::stats() const {
  std::lock_guard<std::mutex> guard(stats_mu_);
  return stats_;
}

size_t TelemetryIngest::queued() const {
  size_t n = 0;
  for (const auto& q : queues_) {
    std::lock_guard<std::mutex> guard(q->mu);
    n += q->items.size();
  }
  return n;
}

// On the writer thread, which is the only one that may delete its partitions' segments.
void TelemetryIngest::ExpireIfDue(int writer, std::chrono::steady_clock::time_point& next_check) {
  auto now = std::chrono::steady_clock::now();
  if (now < next_check) return;
  next_check = now + options_.retention_check_every;
  int64_t wall = options_.clock->NowMillis();
  for (int p = writer; p < store_.partitions(); p += static_cast<int>(queues_.size())) {
    Result<size_t> removed = store_.ExpireBefore(p, wall - options_.retention.count());
    if (!removed.has_value()) continue;  // tried again at the next check
    std::lock_guard<std::mutex> guard(stats_mu_);
    stats_.expired_segments += *removed;
  }
}

void TelemetryIngest::Run(int writer) {
  Queue& q = *queues_[static_cast<size_t>(writer)];
  // This writer's partitions, each with the batch taken for it.
  std::vector<int> mine;
  for (int p = writer; p < store_.partitions(); p += static_cast<int>(queues_.size())) mine.push_back(p);
  std::vector<std::vector<TelemetryMessage>> messages(mine.size());
  std::vector<std::vector<Completion>> completions(mine.size());
  // When each message was submitted (for the acknowledgement latency), with metrics only.
  std::vector<std::vector<std::chrono::steady_clock::time_point>> submitted(mine.size());
  HubMetrics* metrics = options_.metrics;
  auto slot = [&](int partition) { return static_cast<size_t>(partition / static_cast<int>(queues_.size())); };
  auto next_check = std::chrono::steady_clock::now();
  std::vector<bool> failing(mine.size(), false);  // logged once per streak of failed batches
  for (;;) {
    ExpireIfDue(writer, next_check);
    size_t taken = 0;
    {
      std::unique_lock<std::mutex> lock(q.mu);
      bool ready = q.ready.wait_until(lock, next_check, [&] { return q.stopping || !q.items.empty(); });
      if (!ready) continue;         // time for retention
      if (q.items.empty()) return;  // stopping, and everything queued is done
      if (options_.commit_delay.count() > 0 && q.items.size() < options_.small_batch &&
          !q.stopping) {
        // A sleep, not a wait on `ready`: every Submit notifies, and each would wake us.
        lock.unlock();
        std::this_thread::sleep_for(options_.commit_delay);
        lock.lock();
      }
      // Group commit: take all that arrived while the previous batch was being synced.
      while (!q.items.empty() && taken < options_.max_batch_messages) {
        Pending& item = q.items.front();
        messages[slot(item.partition)].push_back(std::move(item.message));
        completions[slot(item.partition)].push_back(std::move(item.done));
        if (metrics != nullptr) submitted[slot(item.partition)].push_back(item.submitted);
        q.items.pop_front();
        ++taken;
      }
    }
    uint64_t commits = 0;
    for (size_t i = 0; i < mine.size(); ++i) {
      if (messages[i].empty()) continue;
      Status status = store_.Append(mine[i], messages[i]).status();
      if (status.ok()) {
        auto started = std::chrono::steady_clock::now();
        status = store_.Commit(mine[i]);
        if (metrics != nullptr) metrics->commit_duration.ObserveSince(started);
      }
      ++commits;
      if (status.ok() != !failing[i]) {
        failing[i] = !status.ok();
        LogLine("telemetry", "partition " + std::to_string(mine[i]) +
                                 (status.ok() ? ": storing again"
                                              : ": cannot store messages, not acknowledging "
                                                "them (devices send them again): " +
                                                    status.message()));
      }
      // Counted before anyone is answered: a scrape after an acknowledgement counts it.
      if (metrics != nullptr) Count(*metrics, status, submitted[i]);
      for (const Completion& done : completions[i]) {
        if (done) done(status);
      }
      messages[i].clear();
      completions[i].clear();
      submitted[i].clear();
    }
    std::lock_guard<std::mutex> guard(stats_mu_);
    stats_.messages += taken;
    stats_.commits += commits;
  }
}

}  // namespace coffre::hub
