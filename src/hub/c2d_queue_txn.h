#pragma once
// C2dQueueTxn: one device's C2D queue inside one SealedRows transaction that locks the queue's
// prefix ("c2d/<h(device)>/"): its messages as the store holds them, read there, in sequence
// order, and the changes to them, staged in the transaction. Nothing about a queue is kept
// between transactions, so every hub node on the store sees the same queue. A message ended
// with an outcome its sender wants feedback on adds the record to the feedback log in the same
// transaction (a crash neither loses nor repeats one), which must then also lock the log
// (C2dFeedbackLog::Locks()); without it (no log given) End fails and needs_feedback_lock() says
// so, for the caller to run the transaction again with it. Lives for one run of a transaction;
// thread-compatible.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "hub/c2d_feedback_log.h"
#include "hub/c2d_message.h"
#include "hub/sealed_rows.h"

namespace coffre::hub {

class C2dQueueTxn {
 public:
  struct Message {
    std::string row;
    QueuedC2d queued;
  };
  // What the transaction is about, besides the store.
  struct Scope {
    std::string prefix;  // "c2d/<h(device)>/", locked
    std::string device_id;
    C2dLockHolder self;                  // this run of this hub node
    Clock::WallTime now{};               // when locks and expiries are judged
    C2dFeedbackLog* feedback = nullptr;  // set if the transaction locks the log
  };

  // The queue as `txn` sees it.
  static Result<C2dQueueTxn> Read(SealedTxn& txn, Scope scope);

  // In sequence order; change one in place, then Save it.
  std::vector<Message>& messages() { return messages_; }
  const Scope& scope() const { return scope_; }

  // Appends `m` with the next sequence number (after every message stored when read).
  Status Add(QueuedC2d m);
  Status Save(size_t index);
  // Whether a delivery holds the message: its lock not expired, and not left by an earlier run
  // of this node (that run is gone, and its deliveries with it: the message waits again at once,
  // as after a restart of the embedded hub). Another node's lock holds until it expires.
  bool Locked(const QueuedC2d& m) const;
  // The message a delivery holds under `lock_token`; FAILED_PRECONDITION with detail
  // "DeviceMessageLockLost" if it is gone or its lock expired.
  Result<size_t> Holding(const std::string& lock_token) const;
  // Removes the message, with its feedback record if the sender asked for this outcome.
  Status End(size_t index, C2dOutcome outcome);
  // Ends expired messages (feedback "Expired") and, given a generation id, erases those queued
  // for an earlier device of the same id (no feedback).
  Status DropStale(const std::string& generation_id);

  bool needs_feedback_lock() const { return needs_feedback_lock_; }
  // The last feedback number this transaction gave, if any.
  std::optional<uint64_t> newest_feedback() const { return newest_feedback_; }

 private:
  C2dQueueTxn(SealedTxn& txn, Scope scope) : txn_(&txn), scope_(std::move(scope)) {}
  void Erase(size_t index);

  SealedTxn* txn_ = nullptr;
  Scope scope_;
  std::vector<Message> messages_;
  uint64_t next_sequence_ = 1;
  bool needs_feedback_lock_ = false;
  std::optional<uint64_t> newest_feedback_;
};

}  // namespace coffre::hub
