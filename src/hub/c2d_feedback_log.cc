#include "hub/c2d_feedback_log.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/json_fields.h"
#include "hub/c2d_rows.h"

namespace coffre::hub {

using nlohmann::json;

namespace {

constexpr std::string_view kRecordPrefix = "c2dfeedback/";
constexpr std::string_view kStateRow = "c2dfeedback-state/numbers";

struct Numbers {
  uint64_t next = 1;        // the first number not yet given
  uint64_t handed_out = 0;  // the last number Peek gave
};

Status Malformed() { return DataLoss("a C2D feedback row has a malformed name"); }

// The next number of a hub made before the state row: after its last record.
Result<uint64_t> NextAfter(const std::vector<std::string>& records) {
  if (records.empty()) return uint64_t{1};
  std::optional<uint64_t> last = C2dFeedbackLog::Number(records.back());
  if (!last) return Malformed();
  return *last + 1;
}

Result<Numbers> ParseNumbers(const json& state) {
  Numbers n;
  Status read = [&]() -> Status {
    COFFRE_ASSIGN_OR_RETURN(JsonFields fields, JsonFields::Of(state));
    COFFRE_ASSIGN_OR_RETURN(n.next, fields.Required<uint64_t>("next"));
    COFFRE_ASSIGN_OR_RETURN(n.handed_out, fields.Required<uint64_t>("handedOut"));
    return Status::Ok();
  }();
  if (!read.ok()) return DataLoss("the C2D feedback state row is malformed: " + read.message());
  return n;
}

// The state as `txn` sees it.
Result<Numbers> ReadNumbers(SealedTxn& txn) {
  Result<json> state = txn.Load(std::string(kStateRow));
  if (state.has_value()) return ParseNumbers(*state);
  if (state.error().code() != StatusCode::kNotFound) return state.error();
  Numbers n;
  COFFRE_ASSIGN_OR_RETURN(std::vector<std::string> records, txn.Rows(kRecordPrefix));
  COFFRE_ASSIGN_OR_RETURN(n.next, NextAfter(records));
  return n;
}

Status WriteNumbers(SealedTxn& txn, const Numbers& n) {
  return txn.Store(std::string(kStateRow), json{{"next", n.next}, {"handedOut", n.handed_out}});
}

}  // namespace

std::vector<std::string> C2dFeedbackLog::Locks() {
  return {std::string(kRecordPrefix), std::string(kStateRow)};
}

std::optional<uint64_t> C2dFeedbackLog::Number(std::string_view row) {
  if (!row.starts_with(kRecordPrefix)) return std::nullopt;
  return C2dRowNumberOf(row);
}

Result<uint64_t> C2dFeedbackLog::Add(SealedTxn& txn, const C2dFeedback& record) {
  COFFRE_ASSIGN_OR_RETURN(Numbers n, ReadNumbers(txn));
  const uint64_t number = n.next++;
  COFFRE_RETURN_IF_ERROR(txn.Store(std::string(kRecordPrefix) + C2dRowNumber(number), record.ToJson()));
  COFFRE_RETURN_IF_ERROR(WriteNumbers(txn, n));
  return number;
}

Result<uint64_t> C2dFeedbackLog::Newest() {
  Result<json> state = rows_.Load(std::string(kStateRow));
  if (!state.has_value() && state.error().code() == StatusCode::kNotFound) {
    COFFRE_ASSIGN_OR_RETURN(std::vector<std::string> records, rows_.Rows(kRecordPrefix));
    COFFRE_ASSIGN_OR_RETURN(uint64_t next, NextAfter(records));
    return next - 1;
  }
  COFFRE_RETURN_IF_ERROR(state.status());
  COFFRE_ASSIGN_OR_RETURN(Numbers n, ParseNumbers(*state));
  return n.next - 1;
}

Status C2dFeedbackLog::Erase(const std::vector<std::string>& rows) {
  return rows_.Transact(Locks(), [&](SealedTxn& txn) {
    for (const std::string& row : rows) txn.Erase(row);
    return Status::Ok();
  });
}

// Records are numbered in the order they were made, so the ones to drop are always the first
// rows. They are chosen outside a transaction: a record once expired, or once beyond the newest
// max_records, stays so, and a number is never given again.
Status C2dFeedbackLog::Trim(uint64_t newest) {
  const uint64_t keep_from = newest >= max_records_ ? newest - max_records_ + 1 : 0;
  const Clock::WallTime expired_before = clock_.Now() - ttl_;
  constexpr size_t kChunk = 32;
  while (true) {
    COFFRE_ASSIGN_OR_RETURN(std::vector<std::string> rows, rows_.Rows(kRecordPrefix, kChunk));
    std::vector<std::string> dropped;
    for (const auto& row : rows) {
      std::optional<uint64_t> n = Number(row);
      if (!n) return Malformed();
      if (*n >= keep_from) {
        Result<json> record = rows_.Load(row);
        if (record.has_value()) {
          COFFRE_ASSIGN_OR_RETURN(C2dFeedback f, C2dFeedback::FromJson(*record));
          if (f.enqueued_time > expired_before) break;
        } else if (record.error().code() != StatusCode::kNotFound) {
          return record.error();  // (not found: acknowledged meanwhile)
        }
      }
      dropped.push_back(row);
    }
    if (!dropped.empty()) COFFRE_RETURN_IF_ERROR(Erase(dropped));
    if (dropped.size() < kChunk) return Status::Ok();
  }
}

Result<C2dFeedbackLog::Batch> C2dFeedbackLog::Peek(size_t max) {
  COFFRE_ASSIGN_OR_RETURN(uint64_t newest, Newest());
  COFFRE_RETURN_IF_ERROR(Trim(newest));
  COFFRE_ASSIGN_OR_RETURN(std::vector<std::string> listed, rows_.Rows(kRecordPrefix, max));
  Batch batch;
  if (listed.empty()) return batch;
  // Read under the locks, so that what is marked handed out is what was read; a record
  // acknowledged since the listing is left out.
  Status read = rows_.Transact(Locks(), [&](SealedTxn& txn) -> Status {
    batch = Batch();
    for (const std::string& row : listed) {
      Result<json> record = txn.Load(row);
      if (!record.has_value() && record.error().code() == StatusCode::kNotFound) continue;
      COFFRE_RETURN_IF_ERROR(record.status());
      COFFRE_ASSIGN_OR_RETURN(C2dFeedback f, C2dFeedback::FromJson(*record));
      batch.records.push_back(std::move(f));
      batch.rows.push_back(row);
    }
    if (batch.rows.empty()) return Status::Ok();
    COFFRE_ASSIGN_OR_RETURN(Numbers n, ReadNumbers(txn));
    const uint64_t last = Number(batch.rows.back()).value_or(0);
    if (last <= n.handed_out) return Status::Ok();
    n.handed_out = last;
    return WriteNumbers(txn, n);
  });
  COFFRE_RETURN_IF_ERROR(read);
  return batch;
}

Status C2dFeedbackLog::AcknowledgeThrough(uint64_t last) {
  // Listed outside the transaction: a record numbered up to `last` was made before it was handed
  // out. (One made after this listing and handed out before the transaction stays, and is
  // read again.)
  COFFRE_ASSIGN_OR_RETURN(std::vector<std::string> rows, rows_.Rows(kRecordPrefix));
  std::vector<std::string> done;
  for (const auto& row : rows) {
    std::optional<uint64_t> n = Number(row);
    if (!n || *n > last) break;
    done.push_back(row);
  }
  return rows_.Transact(Locks(), [&](SealedTxn& txn) -> Status {
    COFFRE_ASSIGN_OR_RETURN(Numbers n, ReadNumbers(txn));
    if (last > n.handed_out) {
      return FailedPrecondition("No feedback batch " + std::to_string(last) +
                                " was handed out: read the feedback before acknowledging it.")
          .WithDetail("PreconditionFailed");
    }
    for (const std::string& row : done) txn.Erase(row);
    return Status::Ok();
  });
}

Status C2dFeedbackLog::Acknowledge(const std::vector<std::string>& rows) {
  for (const auto& row : rows) {
    if (!row.starts_with(kRecordPrefix)) return InvalidArgument("not a feedback row: " + row);
  }
  return Erase(rows);
}

}  // namespace coffre::hub
