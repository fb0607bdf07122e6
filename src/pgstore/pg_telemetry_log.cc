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

namespace {

// `to` raised to `value` if below: other writers' commits only ever move it forward.
void RaiseTo(std::atomic<uint64_t>& to, uint64_t value) {
  uint64_t now = to.load();
  while (now < value && !to.compare_exchange_weak(now, value)) {
  }
}

}  // namespace

std::string PgTelemetryLog::Where(uint64_t sequence) const {
  return "telemetry/" + std::to_string(partition_) + "/" + std::to_string(sequence);
}

std::string PgTelemetryLog::TailWhere() const {
  return "telemetry/" + std::to_string(partition_) + "/tail-link";
}

Result<Bytes> PgTelemetryLog::SealRow(const storage::LogRecord& r) {
  // The chain link goes inside the sealed value: PostgreSQL sees neither. Both are sealed
  // already (the record by the customer layer; the link is a digest), so a reused buffer
  // does, not locked memory.
  row_.assign(r.link.begin(), r.link.end());
  row_.insert(row_.end(), r.payload.begin(), r.payload.end());
  return cipher_.Seal(Where(r.sequence), row_);
}

Result<storage::StoredRecord> PgTelemetryLog::OpenRow(const PgRecord& row) const {
  COFFRE_ASSIGN_OR_RETURN(Bytes plain, cipher_.Open(Where(row.sequence), row.record));
  storage::StoredRecord r;
  if (plain.size() < r.link.size()) return DataLoss("a telemetry row too short: " + Where(row.sequence));
  r.sequence = row.sequence;
  r.time_ms = row.time_ms;
  std::memcpy(r.link.data(), plain.data(), r.link.size());
  r.payload.assign(plain.begin() + static_cast<ptrdiff_t>(r.link.size()), plain.end());
  r.linked = true;
  crypto::Cleanse(plain);
  return r;
}

Status PgTelemetryLog::RefreshFromStore() const {
  COFFRE_ASSIGN_OR_RETURN(PgPartitionState state, pool_.Query([&](PgConnection& db) {
    return PgPartitionLog(db).State(partition_);
  }));
  RaiseTo(durable_, state.next);
  RaiseTo(first_, state.first);
  bytes_ = state.bytes;
  return Status::Ok();
}

Result<std::optional<storage::ChainLink>> PgTelemetryLog::LinkFromLastRecord(PgPartitionLog& sql,
                                                                             uint64_t next) {
  using Link = std::optional<storage::ChainLink>;
  if (next == 0) return Link(storage::ChainLink{});  // the chain starts here
  COFFRE_ASSIGN_OR_RETURN(std::vector<PgRecord> rows, sql.Read(partition_, next - 1, 1));
  if (rows.empty() || rows.front().sequence != next - 1) return Link();
  COFFRE_ASSIGN_OR_RETURN(storage::StoredRecord last, OpenRow(rows.front()));
  return Link(storage::NextLink(last.link, last.sequence, last.time_ms, last.payload));
}

Result<uint64_t> PgTelemetryLog::AppendShared(const SealAt& seal) {
  COFFRE_ASSIGN_OR_RETURN(std::string batch_id, crypto::RandomUuid());
  uint64_t first = 0, count = 0, bytes = 0;
  Status declined;  // seal's own error: returned as is, never retried
  Status ran = pool_.Run([&](PgConnection& db) {
    return db.Transaction([&]() -> Status {
      PgPartitionLog sql(db);
      COFFRE_ASSIGN_OR_RETURN(PgPartitionLog::LockedTail at, sql.LockTail(partition_, batch_id));
      if (at.committed_first) {  // an earlier try committed before its answer was lost
        first = *at.committed_first;
        return Status::Ok();
      }
      storage::AppendPosition position;
      position.next = at.next;
      position.last_time_ms = at.tail.last_time_ms;
      if (at.tail.link) {
        COFFRE_ASSIGN_OR_RETURN(Bytes link, cipher_.Open(TailWhere(), *at.tail.link));
        if (link.size() != storage::kChainLinkBytes) return DataLoss("a malformed tail link");
        storage::ChainLink l;
        std::memcpy(l.data(), link.data(), l.size());
        position.link = l;
      } else {
        COFFRE_ASSIGN_OR_RETURN(position.link, LinkFromLastRecord(sql, at.next));
      }
      Result<std::vector<storage::LogRecord>> records = seal(position);
      if (!records.has_value()) {
        declined = records.error();
        return FailedPrecondition("declined");  // ROLLBACK, no retry
      }
      if (records->empty()) return InvalidArgument("an empty batch");
      std::vector<PgRecord> rows;
      uint64_t size = 0;
      for (const storage::LogRecord& r : *records) {
        if (r.sequence != at.next + rows.size()) {
          return InvalidArgument("records must continue the log in order");
        }
        COFFRE_ASSIGN_OR_RETURN(Bytes sealed, SealRow(r));
        size += sealed.size();
        rows.push_back({r.sequence, r.time_ms, std::move(sealed)});
      }
      const storage::LogRecord& last = records->back();
      storage::ChainLink after = storage::NextLink(last.link, last.sequence, last.time_ms, last.payload);
      PgTail tail;
      tail.last_time_ms = last.time_ms;
      COFFRE_ASSIGN_OR_RETURN(tail.link, cipher_.Seal(TailWhere(), after));
      COFFRE_ASSIGN_OR_RETURN(first, sql.AppendWithTail(partition_, batch_id, rows, at.next, tail));
      count = rows.size();
      bytes = size;
      return Status::Ok();
    });
  });
  if (!declined.ok()) return declined;
  COFFRE_RETURN_IF_ERROR(ran);
  bytes_ += bytes;
  RaiseTo(durable_, first + count);
  next_ = std::max(next_, first + count);
  return first;
}

Status PgTelemetryLog::ResumeAt(uint64_t sequence) {
  if (sequence < next_) return InvalidArgument("a log resumes at or after its end");
  // The end as last read: with other writers (Refresh), possibly past this log's own.
  const uint64_t end = std::max(next_, durable_.load());
  if (sequence > end) {
    Status ran = pool_.Run([&](PgConnection& db) {
      return PgPartitionLog(db).SkipTo(partition_, end, sequence);
    });
    COFFRE_RETURN_IF_ERROR(ran);
    std::lock_guard<std::mutex> lock(gaps_mu_);
    gaps_.push_back({end, sequence});
    RaiseTo(durable_, sequence);
  }
  next_ = std::max(sequence, end);
  resumed_ = true;
  return Status::Ok();
}

Status PgTelemetryLog::Append(std::span<const storage::LogRecord> records) {
  if (!resumed_) COFFRE_RETURN_IF_ERROR(ResumeAt(next_));
  for (const storage::LogRecord& r : records) {
    if (r.sequence != next_) return InvalidArgument("records must continue the log in order");
    COFFRE_ASSIGN_OR_RETURN(Bytes sealed, SealRow(r));
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
  // At or past the end this node knows: other nodes may have committed since (a backup reads
  // up to the end its snapshot's head counts, which may be past this node's last poll).
  if (from >= durable_) COFFRE_RETURN_IF_ERROR(RefreshFromStore());
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
    COFFRE_ASSIGN_OR_RETURN(storage::StoredRecord r, OpenRow(row));
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
  RaiseTo(first_, cut);
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
