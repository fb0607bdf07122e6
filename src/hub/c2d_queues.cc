#include "hub/c2d_queues.h"

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "crypto/random.h"
#include "hub/c2d_queue_txn.h"

namespace coffre::hub {

using nlohmann::json;

namespace {

constexpr std::string_view kQueuePrefix = "c2d/";

}  // namespace

Result<std::string> C2dQueues::QueuePrefix(const std::string& device_id) {
  COFFRE_ASSIGN_OR_RETURN(std::string name, rows_.HashedRow(kQueuePrefix, "c2d-row-names", device_id));
  return name + "/";
}

Result<C2dLockHolder> C2dQueues::Self() {
  std::lock_guard lock(run_mu_);
  if (run_.empty()) {
    COFFRE_ASSIGN_OR_RETURN(run_, crypto::RandomUuid());
  }
  return C2dLockHolder{node_id_, run_};
}

Status C2dQueues::OnQueue(const std::string& device_id, bool sync,
                          const std::function<Status(C2dQueueTxn&)>& op) {
  C2dQueueTxn::Scope scope;
  scope.device_id = device_id;
  COFFRE_ASSIGN_OR_RETURN(scope.prefix, QueuePrefix(device_id));
  COFFRE_ASSIGN_OR_RETURN(scope.self, Self());
  for (bool with_feedback : {false, true}) {
    std::vector<std::string> locks = {scope.prefix};
    if (with_feedback) {
      for (std::string& lock : C2dFeedbackLog::Locks()) locks.push_back(std::move(lock));
    }
    bool needs_feedback = false;
    std::optional<uint64_t> newest;
    Status done = rows_.Transact(locks, [&](SealedTxn& txn) -> Status {
      scope.now = clock_.Now();
      scope.feedback = with_feedback ? &feedback_ : nullptr;
      COFFRE_ASSIGN_OR_RETURN(C2dQueueTxn q, C2dQueueTxn::Read(txn, scope));
      Status run = op(q);
      needs_feedback = q.needs_feedback_lock();
      newest = q.newest_feedback();
      return run;
    }, sync || with_feedback);
    if (needs_feedback && !with_feedback) continue;
    COFFRE_RETURN_IF_ERROR(done);
    if (newest) {
      // The operation is done: a failed trim is left to the next record or read.
      Status trimmed = feedback_.Trim(*newest);
      if (!trimmed.ok()) LogLine("c2d", "trimming the feedback backlog: " + trimmed.ToString());
    }
    return Status::Ok();
  }
  return Internal("the C2D queue transaction asked for the feedback lock it held");
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

  Status queued = OnQueue(device_id, /*sync=*/true, [&](C2dQueueTxn& q) -> Status {
    COFFRE_RETURN_IF_ERROR(q.DropStale(generation_id));
    if (q.messages().size() >= limits_.max_depth) {
      return ResourceExhausted("The device " + device_id + " already has " +
                               std::to_string(limits_.max_depth) + " messages queued.")
          .WithDetail("DeviceMaximumQueueDepthExceeded");
    }
    QueuedC2d m;
    m.message = message;  // a copy: the transaction may run again
    m.device_generation_id = generation_id;
    m.enqueued_time = now;
    return q.Add(std::move(m));
  });
  COFFRE_RETURN_IF_ERROR(queued);
  if (arrival_) arrival_(device_id);
  return Status::Ok();
}

void C2dQueues::SetArrivalListener(std::function<void(const std::string&)> listener) {
  arrival_ = std::move(listener);
}

Result<std::optional<QueuedC2d>> C2dQueues::Receive(const std::string& device_id,
                                                    const std::string& generation_id) {
  std::optional<QueuedC2d> next;
  // Soft state: a crash may forget this delivery, never the message.
  Status received = OnQueue(device_id, /*sync=*/false, [&](C2dQueueTxn& q) -> Status {
    next.reset();
    COFFRE_RETURN_IF_ERROR(q.DropStale(generation_id));
    for (size_t i = 0; i < q.messages().size();) {
      QueuedC2d& m = q.messages()[i].queued;
      if (q.Locked(m)) {
        ++i;
        continue;
      }
      if (m.delivery_count >= limits_.max_delivery_count) {
        COFFRE_RETURN_IF_ERROR(q.End(i, C2dOutcome::kDeliveryCountExceeded));
        continue;
      }
      COFFRE_ASSIGN_OR_RETURN(m.lock_token, crypto::RandomUuid());
      m.locked_until = q.scope().now + limits_.lock_duration;
      m.locked_by = q.scope().self;
      ++m.delivery_count;
      COFFRE_RETURN_IF_ERROR(q.Save(i));
      next = m;
      return Status::Ok();
    }
    return Status::Ok();
  });
  COFFRE_RETURN_IF_ERROR(received);
  return next;
}

Status C2dQueues::Settle(const std::string& device_id, const std::string& lock_token,
                         std::optional<C2dOutcome> outcome) {
  // An abandon is soft state as a delivery is: a crash leaves the message locked until its
  // lock expires.
  return OnQueue(device_id, /*sync=*/outcome.has_value(), [&](C2dQueueTxn& q) -> Status {
    COFFRE_ASSIGN_OR_RETURN(size_t i, q.Holding(lock_token));
    if (outcome) return q.End(i, *outcome);
    q.messages()[i].queued.lock_token.clear();
    return q.Save(i);
  });
}

Status C2dQueues::Complete(const std::string& device_id, const std::string& lock_token) {
  return Settle(device_id, lock_token, C2dOutcome::kSuccess);
}

Status C2dQueues::Reject(const std::string& device_id, const std::string& lock_token) {
  return Settle(device_id, lock_token, C2dOutcome::kRejected);
}

Status C2dQueues::Abandon(const std::string& device_id, const std::string& lock_token) {
  return Settle(device_id, lock_token, std::nullopt);
}

Result<size_t> C2dQueues::Purge(const std::string& device_id) {
  size_t purged = 0;
  Status done = OnQueue(device_id, /*sync=*/true, [&](C2dQueueTxn& q) -> Status {
    purged = q.messages().size();
    while (!q.messages().empty()) COFFRE_RETURN_IF_ERROR(q.End(0, C2dOutcome::kPurged));
    return Status::Ok();
  });
  COFFRE_RETURN_IF_ERROR(done);
  return purged;
}

Result<size_t> C2dQueues::Depth(const std::string& device_id, const std::string& generation_id) {
  COFFRE_ASSIGN_OR_RETURN(std::string prefix, QueuePrefix(device_id));
  COFFRE_ASSIGN_OR_RETURN(std::vector<std::string> rows, rows_.Rows(prefix));
  const Clock::WallTime now = clock_.Now();
  size_t depth = 0;
  for (const std::string& row : rows) {
    Result<json> record = rows_.Load(row);
    if (!record.has_value() && record.error().code() == StatusCode::kNotFound) continue;  // ended since
    COFFRE_RETURN_IF_ERROR(record.status());
    COFFRE_ASSIGN_OR_RETURN(QueuedC2d m, QueuedC2d::FromJson(*record));
    if (m.message.expiry && *m.message.expiry <= now) continue;
    if (!generation_id.empty() && m.device_generation_id != generation_id) continue;
    ++depth;
  }
  return depth;
}

Result<C2dQueues::FeedbackBatch> C2dQueues::PeekFeedback(size_t max) { return feedback_.Peek(max); }

Status C2dQueues::AcknowledgeFeedback(const std::vector<std::string>& rows) {
  return feedback_.Acknowledge(rows);
}

Status C2dQueues::AcknowledgeFeedbackThrough(uint64_t last) {
  return feedback_.AcknowledgeThrough(last);
}

std::optional<uint64_t> C2dQueues::FeedbackNumber(std::string_view row) {
  return C2dFeedbackLog::Number(row);
}

}  // namespace coffre::hub
