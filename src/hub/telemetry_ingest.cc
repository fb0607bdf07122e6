#include "hub/telemetry_ingest.h"

namespace coffre::hub {

TelemetryIngest::TelemetryIngest(TelemetryStore& store, IngestOptions options)
    : store_(store), options_(options) {
  for (int p = 0; p < store_.partitions(); ++p) queues_.push_back(std::make_unique<Queue>());
  for (int p = 0; p < store_.partitions(); ++p) writers_.emplace_back([this, p] { Run(p); });
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
  Queue& q = *queues_[static_cast<size_t>(store_.PartitionOf(message.device_id))];
  std::lock_guard<std::mutex> guard(q.mu);
  if (q.stopping) return Unavailable("the telemetry store is shutting down");
  if (q.items.size() >= options_.max_queued_messages) {
    return ResourceExhausted("too many telemetry messages are waiting to be stored");
  }
  q.items.push_back({std::move(message), std::move(done)});
  q.ready.notify_one();
  return Status::Ok();
}

IngestStats TelemetryIngest::stats() const {
  std::lock_guard<std::mutex> guard(stats_mu_);
  return stats_;
}

// On the writer thread, which is the only one that may delete a partition's segments.
void TelemetryIngest::ExpireIfDue(int partition, std::chrono::steady_clock::time_point& next_check) {
  auto now = std::chrono::steady_clock::now();
  if (now < next_check) return;
  next_check = now + options_.retention_check_every;
  int64_t wall = options_.clock ? options_.clock()
                                : std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count();
  Result<size_t> removed = store_.ExpireBefore(partition, wall - options_.retention.count());
  if (!removed.has_value()) return;  // tried again at the next check
  std::lock_guard<std::mutex> guard(stats_mu_);
  stats_.expired_segments += *removed;
}

void TelemetryIngest::Run(int partition) {
  Queue& q = *queues_[static_cast<size_t>(partition)];
  std::vector<TelemetryMessage> messages;
  std::vector<Completion> completions;
  auto next_check = std::chrono::steady_clock::now();
  for (;;) {
    ExpireIfDue(partition, next_check);
    {
      std::unique_lock<std::mutex> lock(q.mu);
      bool ready = q.ready.wait_until(lock, next_check, [&] { return q.stopping || !q.items.empty(); });
      if (!ready) continue;         // time for retention
      if (q.items.empty()) return;  // stopping, and everything queued is done
      // Group commit: take all that arrived while the previous batch was being synced.
      while (!q.items.empty() && messages.size() < options_.max_batch_messages) {
        messages.push_back(std::move(q.items.front().message));
        completions.push_back(std::move(q.items.front().done));
        q.items.pop_front();
      }
    }
    Status status = store_.Append(partition, messages).status();
    if (status.ok()) status = store_.Commit(partition);
    for (const Completion& done : completions) {
      if (done) done(status);
    }
    {
      std::lock_guard<std::mutex> guard(stats_mu_);
      stats_.messages += messages.size();
      stats_.commits += 1;
    }
    messages.clear();
    completions.clear();
  }
}

}  // namespace coffre::hub
