#include "pgstore/pg_telemetry_log.h"

#include <algorithm>
#include <cstring>

#include "crypto/random.h"
#include "crypto/secret_bytes.h"  // Cleanse

namespace coffre::pgstore {

Result<std::unique_ptr<PgTelemetryLog>> PgTelemetryLog::Open(PgPool& pool, PgRowCipher& cipher,
                                                             int partition) {
  std::unique_ptr<PgTelemetryLog> log(new PgTelemetryLog(pool, cipher, partition));
  PgPartitionState state;
  int64_t last_time = 0;
  std::vector<std::pair<uint64_t, uint64_t>> gaps;
  Status ran = pool.Run([&](PgConnection& db) -> Status {
    PgPartitionLog sql(db);
    COFFRE_ASSIGN_OR_RETURN(state, sql.State(partition));
    COFFRE_ASSIGN_OR_RETURN(last_time, sql.LastTime(partition));
    COFFRE_ASSIGN_OR_RETURN(gaps, sql.Gaps(partition));
    return Status::Ok();
  });
  COFFRE_RETURN_IF_ERROR(ran);
  log->first_ = state.first;
  log->durable_ = state.next;
  log->next_ = state.next;
  log->bytes_ = state.bytes;
  log->block_records_ = state.block_records;
  log->last_time_ms_ = last_time;
  for (const auto& [from, to] : gaps) log->gaps_.push_back({from, to});
  return log;
}

std::string PgTelemetryLog::Where(uint64_t sequence) const {
  return "telemetry/" + std::to_string(partition_) + "/" + std::to_string(sequence);
}

Status PgTelemetryLog::ResumeAt(uint64_t sequence) {
  if (sequence < next_) return InvalidArgument("a log resumes at or after its end");
  if (sequence > next_) {
    Status ran = pool_.Run([&](PgConnection& db) {
      return PgPartitionLog(db).SkipTo(partition_, next_, sequence);
    });
    COFFRE_RETURN_IF_ERROR(ran);
    std::lock_guard<std::mutex> lock(gaps_mu_);
    gaps_.push_back({next_, sequence});
    next_ = sequence;
    durable_ = sequence;
  }
  resumed_ = true;
  return Status::Ok();
}

Status PgTelemetryLog::Append(std::span<const storage::LogRecord> records) {
  if (!resumed_) COFFRE_RETURN_IF_ERROR(ResumeAt(next_));
  for (const storage::LogRecord& r : records) {
    if (r.sequence != next_) return InvalidArgument("records must continue the log in order");
    // The chain link goes inside the sealed value: PostgreSQL sees neither. Both are sealed
    // already (the record by the customer layer; the link is a digest), so a reused buffer
    // does, not locked memory.
    row_.assign(r.link.begin(), r.link.end());
    row_.insert(row_.end(), r.payload.begin(), r.payload.end());
    COFFRE_ASSIGN_OR_RETURN(Bytes sealed, cipher_.Seal(Where(r.sequence), row_));
    staged_.push_back({r.sequence, r.time_ms, std::move(sealed)});
    ++next_;
    last_time_ms_ = r.time_ms;
  }
  return Status::Ok();
}

Status PgTelemetryLog::Sync() {
  if (staged_.empty()) return Status::Ok();
  if (batch_id_.empty()) {
    COFFRE_ASSIGN_OR_RETURN(batch_id_, crypto::RandomUuid());
  }
  const uint64_t expected = durable_;
  COFFRE_ASSIGN_OR_RETURN(uint64_t first, pool_.Query([&](PgConnection& db) {
    return PgPartitionLog(db).Append(partition_, batch_id_, staged_, expected);
  }));
  if (first != expected) {
    return Internal("telemetry partition " + std::to_string(partition_) + ": batch " + batch_id_ +
                    " committed at " + std::to_string(first) + ", not " +
                    std::to_string(expected));
  }
  uint64_t bytes = 0;
  for (const PgRecord& r : staged_) bytes += r.record.size();
  bytes_ += bytes;
  durable_ = expected + staged_.size();
  staged_.clear();
  batch_id_.clear();
  return Status::Ok();
}

Result<std::vector<storage::StoredRecord>> PgTelemetryLog::Read(uint64_t from, size_t max_records,
                                                                size_t max_bytes) const {
  const uint64_t end = durable_;
  if (from < first_ || from > end) {
    return InvalidArgument("telemetry partition " + std::to_string(partition_) +
                           " keeps records " + std::to_string(first_) + ".." +
                           std::to_string(end) + ", not " + std::to_string(from));
  }
  if (from == end || max_records == 0) return std::vector<storage::StoredRecord>();
  size_t want = static_cast<size_t>(std::min<uint64_t>(max_records, end - from));
  COFFRE_ASSIGN_OR_RETURN(std::vector<PgRecord> rows, pool_.Query([&](PgConnection& db) {
    return PgPartitionLog(db).Read(partition_, from, want, max_bytes);
  }));
  std::vector<storage::StoredRecord> out;
  for (const PgRecord& row : rows) {
    if (row.sequence >= end) break;
    COFFRE_ASSIGN_OR_RETURN(Bytes plain, cipher_.Open(Where(row.sequence), row.record));
    storage::StoredRecord r;
    if (plain.size() < r.link.size()) {
      return DataLoss("a telemetry row too short: " + Where(row.sequence));
    }
    r.sequence = row.sequence;
    r.time_ms = row.time_ms;
    std::memcpy(r.link.data(), plain.data(), r.link.size());
    r.payload.assign(plain.begin() + static_cast<ptrdiff_t>(r.link.size()), plain.end());
    r.linked = true;
    crypto::Cleanse(plain);
    out.push_back(std::move(r));
  }
  return out;
}

Result<uint64_t> PgTelemetryLog::SeekTime(int64_t time_ms) const {
  COFFRE_ASSIGN_OR_RETURN(std::optional<uint64_t> first, pool_.Query([&](PgConnection& db) {
    return PgPartitionLog(db).FirstAtOrAfter(partition_, time_ms);
  }));
  const uint64_t end = durable_;
  return first.has_value() ? std::min(*first, end) : end;
}

uint64_t PgTelemetryLog::FirstSequenceAfterExpiry(int64_t time_ms) const {
  // Whole blocks, and never the one holding the newest record (as SegmentLog keeps its active
  // segment).
  const uint64_t end = durable_;
  if (end == 0) return first_;
  Result<uint64_t> cut = SeekTime(time_ms);
  if (!cut.has_value()) return first_;
  uint64_t kept = std::min(*cut, end - 1);
  return std::max<uint64_t>(first_, kept / block_records_ * block_records_);
}

Result<size_t> PgTelemetryLog::ExpireBefore(int64_t time_ms) {
  uint64_t cut = FirstSequenceAfterExpiry(time_ms);
  if (cut <= first_ || cut % block_records_ != 0) return size_t{0};
  COFFRE_ASSIGN_OR_RETURN(PgDeleted dropped, pool_.Query([&](PgConnection& db) {
    return PgPartitionLog(db).DropBlocksBefore(partition_, cut);
  }));
  first_ = cut;
  bytes_ -= std::min<uint64_t>(bytes_, dropped.bytes);
  std::lock_guard<std::mutex> lock(gaps_mu_);
  std::erase_if(gaps_, [cut](const Gap& g) { return g.to <= cut; });
  return static_cast<size_t>(dropped.blocks);
}

std::vector<storage::PartitionLog::Gap> PgTelemetryLog::gaps() const {
  std::lock_guard<std::mutex> lock(gaps_mu_);
  return gaps_;
}

}  // namespace coffre::pgstore
