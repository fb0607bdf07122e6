#include "hub/c2d_queue_txn.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "hub/c2d_rows.h"

namespace coffre::hub {

using nlohmann::json;

namespace {

bool WantsFeedback(C2dAck ack, C2dOutcome outcome) {
  switch (ack) {
    case C2dAck::kNone: return false;
    case C2dAck::kFull: return true;
    case C2dAck::kPositive: return outcome == C2dOutcome::kSuccess;
    case C2dAck::kNegative: return outcome != C2dOutcome::kSuccess;
  }
  return false;
}

}  // namespace

Result<C2dQueueTxn> C2dQueueTxn::Read(SealedTxn& txn, Scope scope) {
  C2dQueueTxn q(txn, std::move(scope));
  COFFRE_ASSIGN_OR_RETURN(std::vector<std::string> rows, txn.Rows(q.scope_.prefix));
  for (std::string& row : rows) {
    COFFRE_ASSIGN_OR_RETURN(json record, txn.Load(row));
    COFFRE_ASSIGN_OR_RETURN(QueuedC2d m, QueuedC2d::FromJson(record));
    q.next_sequence_ = std::max(q.next_sequence_, m.sequence + 1);
    q.messages_.push_back({std::move(row), std::move(m)});
  }
  return q;
}

Status C2dQueueTxn::Add(QueuedC2d m) {
  m.sequence = next_sequence_++;
  std::string row = scope_.prefix + C2dRowNumber(m.sequence);
  COFFRE_RETURN_IF_ERROR(txn_->Store(row, m.ToJson()));
  messages_.push_back({std::move(row), std::move(m)});
  return Status::Ok();
}

Status C2dQueueTxn::Save(size_t index) {
  const Message& m = messages_[index];
  return txn_->Store(m.row, m.queued.ToJson());
}

bool C2dQueueTxn::Locked(const QueuedC2d& m) const {
  if (m.lock_token.empty() || m.locked_until <= scope_.now) return false;
  return m.locked_by.node != scope_.self.node || m.locked_by.run == scope_.self.run;
}

Result<size_t> C2dQueueTxn::Holding(const std::string& lock_token) const {
  for (size_t i = 0; i < messages_.size(); ++i) {
    const QueuedC2d& m = messages_[i].queued;
    if (!lock_token.empty() && m.lock_token == lock_token && Locked(m)) return i;
  }
  return FailedPrecondition("The message lock was lost or the message no longer exists.")
      .WithDetail("DeviceMessageLockLost");
}

void C2dQueueTxn::Erase(size_t index) {
  txn_->Erase(messages_[index].row);
  messages_.erase(messages_.begin() + static_cast<std::ptrdiff_t>(index));
}

Status C2dQueueTxn::End(size_t index, C2dOutcome outcome) {
  const QueuedC2d& m = messages_[index].queued;
  if (WantsFeedback(m.message.ack, outcome)) {
    if (scope_.feedback == nullptr) {
      needs_feedback_lock_ = true;
      return FailedPrecondition("the C2D feedback log is not locked");
    }
    C2dFeedback f;
    f.original_message_id = m.message.properties.system.message_id.value_or("");
    f.device_id = scope_.device_id;
    f.device_generation_id = m.device_generation_id;
    f.outcome = outcome;
    f.enqueued_time = scope_.now;
    COFFRE_ASSIGN_OR_RETURN(uint64_t number, scope_.feedback->Add(*txn_, f));
    newest_feedback_ = number;
  }
  Erase(index);
  return Status::Ok();
}

Status C2dQueueTxn::DropStale(const std::string& generation_id) {
  for (size_t i = 0; i < messages_.size();) {
    const QueuedC2d& m = messages_[i].queued;
    if (m.message.expiry && *m.message.expiry <= scope_.now) {
      COFFRE_RETURN_IF_ERROR(End(i, C2dOutcome::kExpired));
    } else if (!generation_id.empty() && m.device_generation_id != generation_id) {
      Erase(i);
    } else {
      ++i;
    }
  }
  return Status::Ok();
}

}  // namespace coffre::hub
