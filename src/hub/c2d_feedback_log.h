#pragma once
// C2dFeedbackLog: the feedback records the service reads back about C2D messages, hub-wide,
// numbered 1, 2, ... in the order their outcomes were decided, on every hub node sharing the
// store: rows "c2dfeedback/<number>" and one state row, "c2dfeedback-state/numbers" ({"next":
// the first number not yet given, "handedOut": the last number Peek gave}). A record is added
// inside the transaction that ends its message, which locks Locks() too: the number is taken,
// the state moved on and the record written in one commit, so no number is given twice or
// reused, and the mark of what was handed out is the same on every node. A hub made before the
// state row takes the next number from its last record, once. The backlog is bounded (oldest
// first: older than `ttl`, or beyond the newest `max_records`), trimmed by transactions of their
// own. Thread-safe.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "hub/c2d_message.h"
#include "hub/sealed_rows.h"

namespace coffre::hub {

class C2dFeedbackLog {
 public:
  // Records in the order they were made, with their row names for Acknowledge.
  struct Batch {
    std::vector<C2dFeedback> records;
    std::vector<std::string> rows;
  };

  // rows and clock must outlive the log.
  C2dFeedbackLog(SealedRows& rows, Clock& clock, std::chrono::seconds ttl, size_t max_records)
      : rows_(rows), clock_(clock), ttl_(ttl), max_records_(max_records) {}

  // What a transaction that adds a record locks, besides its own rows (every writer of the
  // records and the state locks them).
  static std::vector<std::string> Locks();
  // Stores `record` inside `txn` (which locks Locks()) under the next number; that number.
  Result<uint64_t> Add(SealedTxn& txn, const C2dFeedback& record);
  // Drops the oldest records while they are expired or older than the newest max_records
  // (`newest`: the last number given). Only the first rows are read, never the whole backlog.
  Status Trim(uint64_t newest);

  // The oldest `max` records (expired ones dropped first); marks them handed out.
  Result<Batch> Peek(size_t max);
  Status Acknowledge(const std::vector<std::string>& rows);
  // Acknowledges every record up to and including number `last`. FAILED_PRECONDITION if `last`
  // is beyond every record Peek handed out (on any node): records nobody has read are never
  // acknowledged.
  Status AcknowledgeThrough(uint64_t last);
  // A record row's number; nullopt for another row.
  static std::optional<uint64_t> Number(std::string_view row);

 private:
  // The last number given (0: none), as stored now.
  Result<uint64_t> Newest();
  Status Erase(const std::vector<std::string>& rows);  // under Locks(); gone ones no matter

  SealedRows& rows_;
  Clock& clock_;
  const std::chrono::seconds ttl_;
  const size_t max_records_;
};

}  // namespace coffre::hub
