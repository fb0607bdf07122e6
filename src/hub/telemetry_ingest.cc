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

void TelemetryIngest::Run(int partition) {
  Queue& q = *queues_[static_cast<size_t>(partition)];
  std::vector<TelemetryMessage> messages;
  std::vector<Completion> completions;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(q.mu);
      q.ready.wait(lock, [&] { return q.stopping || !q.items.empty(); });
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
