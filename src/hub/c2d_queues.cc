#include "hub/c2d_queues.h"

#include <cstdio>

#include "common/encoding.h"
#include "crypto/random.h"

namespace coffre::hub {

using nlohmann::json;

namespace {

constexpr std::string_view kQueuePrefix = "c2d/";
constexpr std::string_view kFeedbackPrefix = "c2dfeedback/";

std::string Hex16(uint64_t n) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(n));
  return buf;
}

// The sequence number at the end of a row name ("…/000000000000002a").
std::optional<uint64_t> SequenceOf(std::string_view row) {
  if (row.size() < 16) return std::nullopt;
  uint64_t n = 0;
  for (char c : row.substr(row.size() - 16)) {
    int v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (v < 0) return std::nullopt;
    n = n * 16 + static_cast<uint64_t>(v);
  }
  return n;
}

bool WantsFeedback(C2dAck ack, C2dOutcome outcome) {
  switch (ack) {
    case C2dAck::kNone: return false;
    case C2dAck::kFull: return true;
    case C2dAck::kPositive: return outcome == C2dOutcome::kSuccess;
    case C2dAck::kNegative: return outcome != C2dOutcome::kSuccess;
  }
  return false;
}

Status LockLost() {
  return FailedPrecondition("The message lock was lost or the message no longer exists.")
      .WithDetail("DeviceMessageLockLost");
}

}  // namespace

Result<C2dQueues::DeviceQueue*> C2dQueues::Queue(const std::string& device_id) {
  auto it = queues_.find(device_id);
  if (it != queues_.end()) return &it->second;
  DeviceQueue q;
  COFFRE_ASSIGN_OR_RETURN(std::string name, rows_.HashedRow(kQueuePrefix, "c2d-row-names", device_id));
  q.prefix = name + "/";
  COFFRE_ASSIGN_OR_RETURN(std::vector<std::string> rows, rows_.Rows(q.prefix));
  for (const auto& row : rows) {
    COFFRE_ASSIGN_OR_RETURN(json record, rows_.Load(row));
    COFFRE_ASSIGN_OR_RETURN(QueuedC2d m, QueuedC2d::FromJson(record));
    Entry e;
    e.sequence = m.sequence;
    e.row = row;
    e.expiry = m.message.expiry.value_or(Clock::WallTime::max());
    e.delivery_count = m.delivery_count;
    e.generation_id = m.device_generation_id;
    q.entries.push_back(std::move(e));
    q.next_sequence = std::max(q.next_sequence, m.sequence + 1);
  }
  return &queues_.emplace(device_id, std::move(q)).first->second;
}

Status C2dQueues::Enqueue(const std::string& device_id, const std::string& generation_id,
                          C2dMessage message) {
  if (AccountedMessageSize(message.body.size(), message.properties) > kMaxC2dMessageBytes) {
    return ResourceExhausted("The message is larger than the limit of 65536 bytes.")
        .WithDetail("MessageTooLarge");
  }
  Clock::WallTime now = clock_.Now();
  Clock::WallTime latest = now + limits_.max_ttl;
  if (!message.expiry) message.expiry = now + limits_.default_ttl;
  if (*message.expiry > latest) message.expiry = latest;

  {
    std::lock_guard lock(mu_);
    COFFRE_ASSIGN_OR_RETURN(DeviceQueue * q, Queue(device_id));
    COFFRE_RETURN_IF_ERROR(DropStale(device_id, *q, generation_id));
    if (q->entries.size() >= limits_.max_depth) {
      return ResourceExhausted("The device " + device_id + " already has " +
                               std::to_string(limits_.max_depth) + " messages queued.")
          .WithDetail("DeviceMaximumQueueDepthExceeded");
    }
    QueuedC2d m;
    m.sequence = q->next_sequence;
    m.message = std::move(message);
    m.device_generation_id = generation_id;
    m.enqueued_time = now;
    Entry e;
    e.sequence = m.sequence;
    e.row = q->prefix + Hex16(m.sequence);
    e.expiry = *m.message.expiry;
    e.generation_id = generation_id;
    COFFRE_RETURN_IF_ERROR(rows_.Store(e.row, m.ToJson()));
    ++q->next_sequence;
    q->entries.push_back(std::move(e));
  }
  if (arrival_) arrival_(device_id);
  return Status::Ok();
}

void C2dQueues::SetArrivalListener(std::function<void(const std::string&)> listener) {
  arrival_ = std::move(listener);
}

Result<std::optional<QueuedC2d>> C2dQueues::Receive(const std::string& device_id,
                                                    const std::string& generation_id) {
  std::lock_guard lock(mu_);
  COFFRE_ASSIGN_OR_RETURN(DeviceQueue * q, Queue(device_id));
  COFFRE_RETURN_IF_ERROR(DropStale(device_id, *q, generation_id));
  Clock::SteadyTime now = clock_.SteadyNow();
  for (size_t i = 0; i < q->entries.size();) {
    Entry& e = q->entries[i];
    if (!e.lock_token.empty() && e.locked_until > now) {
      ++i;
      continue;
    }
    if (e.delivery_count >= limits_.max_delivery_count) {
      COFFRE_RETURN_IF_ERROR(DeadLetter(device_id, *q, i, C2dOutcome::kDeliveryCountExceeded));
      continue;
    }
    COFFRE_ASSIGN_OR_RETURN(json record, rows_.Load(e.row));
    COFFRE_ASSIGN_OR_RETURN(QueuedC2d m, QueuedC2d::FromJson(record));
    m.delivery_count = e.delivery_count + 1;
    // Soft state: a crash may forget this delivery, never the message.
    COFFRE_RETURN_IF_ERROR(rows_.Store(e.row, m.ToJson(), /*sync=*/false));
    COFFRE_ASSIGN_OR_RETURN(std::string token, crypto::RandomUuid());
    e.delivery_count = m.delivery_count;
    e.lock_token = token;
    e.locked_until = now + limits_.lock_duration;
    m.lock_token = std::move(token);
    return std::optional<QueuedC2d>(std::move(m));
  }
  return std::optional<QueuedC2d>();
}

Result<size_t> C2dQueues::Locked(DeviceQueue& q, const std::string& lock_token) {
  Clock::SteadyTime now = clock_.SteadyNow();
  for (size_t i = 0; i < q.entries.size(); ++i) {
    const Entry& e = q.entries[i];
    if (!lock_token.empty() && e.lock_token == lock_token && e.locked_until > now) return i;
  }
  return LockLost();
}

Status C2dQueues::Complete(const std::string& device_id, const std::string& lock_token) {
  std::lock_guard lock(mu_);
  COFFRE_ASSIGN_OR_RETURN(DeviceQueue * q, Queue(device_id));
  COFFRE_ASSIGN_OR_RETURN(size_t i, Locked(*q, lock_token));
  return DeadLetter(device_id, *q, i, C2dOutcome::kSuccess);
}

Status C2dQueues::Reject(const std::string& device_id, const std::string& lock_token) {
  std::lock_guard lock(mu_);
  COFFRE_ASSIGN_OR_RETURN(DeviceQueue * q, Queue(device_id));
  COFFRE_ASSIGN_OR_RETURN(size_t i, Locked(*q, lock_token));
  return DeadLetter(device_id, *q, i, C2dOutcome::kRejected);
}

Status C2dQueues::Abandon(const std::string& device_id, const std::string& lock_token) {
  std::lock_guard lock(mu_);
  COFFRE_ASSIGN_OR_RETURN(DeviceQueue * q, Queue(device_id));
  COFFRE_ASSIGN_OR_RETURN(size_t i, Locked(*q, lock_token));
  q->entries[i].lock_token.clear();
  return Status::Ok();
}

Result<size_t> C2dQueues::Purge(const std::string& device_id) {
  std::lock_guard lock(mu_);
  COFFRE_ASSIGN_OR_RETURN(DeviceQueue * q, Queue(device_id));
  size_t n = q->entries.size();
  while (!q->entries.empty()) {
    COFFRE_RETURN_IF_ERROR(DeadLetter(device_id, *q, 0, C2dOutcome::kPurged));
  }
  return n;
}

Result<size_t> C2dQueues::Depth(const std::string& device_id, const std::string& generation_id) {
  std::lock_guard lock(mu_);
  COFFRE_ASSIGN_OR_RETURN(DeviceQueue * q, Queue(device_id));
  COFFRE_RETURN_IF_ERROR(DropStale(device_id, *q, generation_id));
  return q->entries.size();
}

Status C2dQueues::DropStale(const std::string& device_id, DeviceQueue& q,
                            const std::string& generation_id) {
  COFFRE_RETURN_IF_ERROR(DropExpired(device_id, q));
  return DropOtherGenerations(q, generation_id);
}

Status C2dQueues::DropExpired(const std::string& device_id, DeviceQueue& q) {
  Clock::WallTime now = clock_.Now();
  for (size_t i = 0; i < q.entries.size();) {
    if (q.entries[i].expiry <= now) {
      COFFRE_RETURN_IF_ERROR(DeadLetter(device_id, q, i, C2dOutcome::kExpired));
    } else {
      ++i;
    }
  }
  return Status::Ok();
}

Status C2dQueues::DropOtherGenerations(DeviceQueue& q, const std::string& generation_id) {
  if (generation_id.empty()) return Status::Ok();
  for (size_t i = 0; i < q.entries.size();) {
    if (q.entries[i].generation_id != generation_id) {
      COFFRE_RETURN_IF_ERROR(rows_.Erase(q.entries[i].row));
      q.entries.erase(q.entries.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
  return Status::Ok();
}

// Ends message `index`: its feedback (if the sender asked) is stored first, then the message is
// erased, so a crash in between can repeat a feedback record but never lose one.
Status C2dQueues::DeadLetter(const std::string& device_id, DeviceQueue& q, size_t index,
                             C2dOutcome outcome) {
  const Entry& e = q.entries[index];
  COFFRE_ASSIGN_OR_RETURN(json record, rows_.Load(e.row));
  COFFRE_ASSIGN_OR_RETURN(QueuedC2d m, QueuedC2d::FromJson(record));
  if (WantsFeedback(m.message.ack, outcome)) {
    COFFRE_RETURN_IF_ERROR(AddFeedback(device_id, m, outcome));
  }
  COFFRE_RETURN_IF_ERROR(rows_.Erase(e.row));
  q.entries.erase(q.entries.begin() + static_cast<std::ptrdiff_t>(index));
  return Status::Ok();
}

Status C2dQueues::LoadFeedbackSequence() {
  if (next_feedback_sequence_) return Status::Ok();
  COFFRE_ASSIGN_OR_RETURN(std::vector<std::string> rows, rows_.Rows(kFeedbackPrefix));
  next_feedback_sequence_ = 1;
  if (!rows.empty()) {
    auto last = SequenceOf(rows.back());
    if (!last) return DataLoss("a C2D feedback row has a malformed name");
    next_feedback_sequence_ = *last + 1;
  }
  return Status::Ok();
}

Result<uint64_t> C2dQueues::NextFeedbackSequence() {
  COFFRE_RETURN_IF_ERROR(LoadFeedbackSequence());
  return (*next_feedback_sequence_)++;
}

Status C2dQueues::AddFeedback(const std::string& device_id, const QueuedC2d& m, C2dOutcome outcome) {
  C2dFeedback f;
  f.original_message_id = m.message.properties.system.message_id.value_or("");
  f.device_id = device_id;
  f.device_generation_id = m.device_generation_id;
  f.outcome = outcome;
  f.enqueued_time = clock_.Now();
  COFFRE_ASSIGN_OR_RETURN(uint64_t seq, NextFeedbackSequence());
  COFFRE_RETURN_IF_ERROR(rows_.Store(std::string(kFeedbackPrefix) + Hex16(seq), f.ToJson()));
  return TrimFeedback(seq);
}

// Records are numbered in the order they were made, so the ones to drop are always the first
// rows: a few are read at a time, never the whole backlog.
Status C2dQueues::TrimFeedback(uint64_t newest) {
  uint64_t keep_from = newest >= limits_.max_feedback ? newest - limits_.max_feedback + 1 : 0;
  Clock::WallTime expired_before = clock_.Now() - limits_.feedback_ttl;
  constexpr size_t kChunk = 32;
  while (true) {
    COFFRE_ASSIGN_OR_RETURN(std::vector<std::string> rows, rows_.Rows(kFeedbackPrefix, kChunk));
    std::vector<std::string> dropped;
    for (const auto& row : rows) {
      auto n = SequenceOf(row);
      if (!n) return DataLoss("a C2D feedback row has a malformed name");
      if (*n >= keep_from) {
        COFFRE_ASSIGN_OR_RETURN(json record, rows_.Load(row));
        COFFRE_ASSIGN_OR_RETURN(C2dFeedback f, C2dFeedback::FromJson(record));
        if (f.enqueued_time > expired_before) break;
      }
      dropped.push_back(row);
    }
    if (!dropped.empty()) COFFRE_RETURN_IF_ERROR(rows_.EraseAll(dropped));
    if (dropped.size() < kChunk) return Status::Ok();
  }
}

Result<C2dQueues::FeedbackBatch> C2dQueues::PeekFeedback(size_t max) {
  std::lock_guard lock(mu_);
  COFFRE_RETURN_IF_ERROR(LoadFeedbackSequence());
  COFFRE_RETURN_IF_ERROR(TrimFeedback(*next_feedback_sequence_ - 1));
  FeedbackBatch batch;
  COFFRE_ASSIGN_OR_RETURN(batch.rows, rows_.Rows(kFeedbackPrefix, max));
  for (const auto& row : batch.rows) {
    COFFRE_ASSIGN_OR_RETURN(json record, rows_.Load(row));
    COFFRE_ASSIGN_OR_RETURN(C2dFeedback f, C2dFeedback::FromJson(record));
    batch.records.push_back(std::move(f));
  }
  if (!batch.rows.empty()) {
    feedback_handed_out_ = std::max(feedback_handed_out_, SequenceOf(batch.rows.back()).value_or(0));
  }
  return batch;
}

std::optional<uint64_t> C2dQueues::FeedbackNumber(std::string_view row) {
  if (!row.starts_with(kFeedbackPrefix)) return std::nullopt;
  return SequenceOf(row);
}

Status C2dQueues::AcknowledgeFeedbackThrough(uint64_t last) {
  std::lock_guard lock(mu_);
  if (last > feedback_handed_out_) {
    return FailedPrecondition("No feedback batch " + std::to_string(last) +
                              " was handed out: read the feedback before acknowledging it.")
        .WithDetail("PreconditionFailed");
  }
  COFFRE_ASSIGN_OR_RETURN(std::vector<std::string> rows, rows_.Rows(kFeedbackPrefix));
  std::vector<std::string> done;
  for (const auto& row : rows) {
    auto n = SequenceOf(row);
    if (!n || *n > last) break;
    done.push_back(row);
  }
  if (done.empty()) return Status::Ok();
  return rows_.EraseAll(done);
}

Status C2dQueues::AcknowledgeFeedback(const std::vector<std::string>& rows) {
  for (const auto& row : rows) {
    if (!row.starts_with(kFeedbackPrefix)) return InvalidArgument("not a feedback row: " + row);
  }
  std::lock_guard lock(mu_);
  return rows_.EraseAll(rows);
}

}  // namespace coffre::hub
