#include "pgstore/pg_partition_move.h"

#include <string>
#include <vector>

#include "common/numbers.h"
#include "pgstore/pg_partition_log.h"

namespace coffre::pgstore {
namespace {

constexpr int kMoveChunkRows = 1000;

// What identifies a partition's records in a cluster: how many, their bytes and a digest.
constexpr const char* kRecordsSummary =
    "SELECT count(*), coalesce(sum(length(record)), 0), "
    "coalesce(sum(hashtextextended(encode(record, 'base64'), 0)::numeric), 0), "
    "coalesce(max(sequence), -1) FROM coffre_records WHERE partition = $1";

Result<uint64_t> MovedNumber(const std::string& text) {
  std::optional<uint64_t> v = ParseUnsigned(text);
  if (!v) return Internal("PostgreSQL returned '" + text + "' for a number");
  return *v;
}

// PostgreSQL's array literal of values that need no quoting (numbers, hex, uuids).
std::string ArrayOf(const std::vector<std::string>& values) {
  std::string text = "{";
  for (const std::string& v : values) text += (text.size() > 1 ? "," : "") + v;
  return text + "}";
}

std::string SummaryOf(PgConnection& db, int partition, Status& failed) {
  Result<PgRows> rows = db.Exec(kRecordsSummary, {PgParam::Int(partition)});
  if (!rows.has_value()) {
    failed = rows.error();
    return "";
  }
  return rows->Value(0, 0) + " records, " + rows->Value(0, 1) + " bytes, digest " +
         rows->Value(0, 2) + ", last " + rows->Value(0, 3);
}

Status CopyRecords(PgConnection& from, PgConnection& to, int partition, PgMoved& moved) {
  for (uint64_t next = 0;;) {
    COFFRE_ASSIGN_OR_RETURN(
        PgRows rows,
        from.Exec("SELECT sequence, time_ms, encode(record, 'hex') FROM coffre_records "
                  "WHERE partition = $1 AND sequence >= $2 ORDER BY sequence LIMIT " +
                      std::to_string(kMoveChunkRows),
                  {PgParam::Int(partition), PgParam::Int(static_cast<int64_t>(next))}));
    if (rows.size() == 0) return Status::Ok();
    std::vector<std::string> sequences, times, records;
    for (size_t i = 0; i < rows.size(); ++i) {
      sequences.push_back(rows.Value(i, 0));
      times.push_back(rows.Value(i, 1));
      records.push_back(rows.Value(i, 2));
    }
    COFFRE_RETURN_IF_ERROR(
        to.Exec("INSERT INTO coffre_records (partition, sequence, time_ms, record) "
                "SELECT $1, s, t, decode(r, 'hex') FROM unnest($2::bigint[], $3::bigint[], "
                "$4::text[]) AS u(s, t, r)",
                {PgParam::Int(partition), PgParam::Text(ArrayOf(sequences)),
                 PgParam::Text(ArrayOf(times)), PgParam::Text(ArrayOf(records))})
            .status());
    moved.records += rows.size();
    COFFRE_ASSIGN_OR_RETURN(uint64_t last, MovedNumber(sequences.back()));
    next = last + 1;
  }
}

Status CopyBatchesAndGaps(PgConnection& from, PgConnection& to, int partition, PgMoved& moved) {
  COFFRE_ASSIGN_OR_RETURN(PgRows batches,
                          from.Exec("SELECT batch_id, first_sequence, records FROM coffre_batches "
                                    "WHERE partition = $1",
                                    {PgParam::Int(partition)}));
  for (size_t i = 0; i < batches.size(); ++i) {
    COFFRE_RETURN_IF_ERROR(to.Exec("INSERT INTO coffre_batches VALUES ($1, $2, $3, $4)",
                                   {PgParam::Text(batches.Value(i, 0)), PgParam::Int(partition),
                                    PgParam::Text(batches.Value(i, 1)),
                                    PgParam::Text(batches.Value(i, 2))})
                               .status());
  }
  COFFRE_ASSIGN_OR_RETURN(PgRows gaps,
                          from.Exec("SELECT from_sequence, to_sequence FROM coffre_gaps "
                                    "WHERE partition = $1",
                                    {PgParam::Int(partition)}));
  for (size_t i = 0; i < gaps.size(); ++i) {
    COFFRE_RETURN_IF_ERROR(to.Exec("INSERT INTO coffre_gaps VALUES ($1, $2, $3)",
                                   {PgParam::Int(partition), PgParam::Text(gaps.Value(i, 0)),
                                    PgParam::Text(gaps.Value(i, 1))})
                               .status());
  }
  moved.batches = batches.size();
  moved.gaps = gaps.size();
  return Status::Ok();
}

}  // namespace

Result<PgMoved> MovePartition(PgConnection& from, PgConnection& to, int partition) {
  const std::string name = "telemetry partition " + std::to_string(partition);
  const PgParam p = PgParam::Int(partition);
  COFFRE_ASSIGN_OR_RETURN(
      PgRows source,
      from.Exec("SELECT next_sequence, first_sequence, bytes, block_records, "
                "encode(link, 'hex'), last_time_ms FROM coffre_partitions WHERE partition = $1",
                {p}));
  if (source.size() != 1) return NotFound(name + " is not in the source cluster");
  const std::vector<std::string>& row = source.rows[0];
  COFFRE_ASSIGN_OR_RETURN(uint64_t next, MovedNumber(row[0]));
  COFFRE_ASSIGN_OR_RETURN(uint64_t first, MovedNumber(row[1]));
  COFFRE_ASSIGN_OR_RETURN(uint64_t block_records, MovedNumber(row[3]));
  if (block_records == 0) return DataLoss(name + ": a block of 0 records in the source");
  const int part[] = {partition};
  COFFRE_RETURN_IF_ERROR(PgPartitionLog::Create(to, part, block_records));

  Status failed;
  const std::string want = SummaryOf(from, partition, failed);
  COFFRE_RETURN_IF_ERROR(failed);
  COFFRE_ASSIGN_OR_RETURN(PgRows target,
                          to.Exec("SELECT next_sequence, block_records FROM coffre_partitions "
                                  "WHERE partition = $1",
                                  {p}));
  PgMoved moved;
  if (target.Value(0, 0) != "0") {
    // A move run again: the target must hold exactly the source's copy.
    const std::string have = SummaryOf(to, partition, failed);
    COFFRE_RETURN_IF_ERROR(failed);
    if (target.Value(0, 0) != row[0] || have != want) {
      return FailedPrecondition(name + " has other records in the target cluster (" + have +
                                ", next " + target.Value(0, 0) + ") than in the source (" +
                                want + ", next " + row[0] + "): nothing moved");
    }
  } else {
    if (target.Value(0, 1) != row[3]) {
      return FailedPrecondition(name + ": the target's blocks hold " + target.Value(0, 1) +
                                " records, the source's " + row[3] + ": nothing moved");
    }
    Status copied = to.Transaction([&]() -> Status {
      if (next > first) {
        COFFRE_RETURN_IF_ERROR(
            to.Exec("SELECT coffre_block($1, b, $2) FROM generate_series($3::bigint, $4::bigint) b",
                    {p, PgParam::Int(static_cast<int64_t>(block_records)),
                     PgParam::Int(static_cast<int64_t>(first / block_records)),
                     PgParam::Int(static_cast<int64_t>((next - 1) / block_records))})
                .status());
      }
      COFFRE_RETURN_IF_ERROR(CopyRecords(from, to, partition, moved));
      COFFRE_RETURN_IF_ERROR(CopyBatchesAndGaps(from, to, partition, moved));
      return to.Exec("UPDATE coffre_partitions SET next_sequence = $2, first_sequence = $3, "
                     "bytes = $4, link = decode(nullif($5, ''), 'hex'), "
                     "last_time_ms = nullif($6, '')::bigint WHERE partition = $1",
                     {p, PgParam::Text(row[0]), PgParam::Text(row[1]), PgParam::Text(row[2]),
                      PgParam::Text(row[4]), PgParam::Text(row[5])})
          .status();
    });
    COFFRE_RETURN_IF_ERROR(copied);
    moved.copied = true;
    const std::string have = SummaryOf(to, partition, failed);
    COFFRE_RETURN_IF_ERROR(failed);
    if (have != want) {
      return DataLoss(name + ": the copy (" + have + ") differs from the source (" + want +
                      "); the source is kept");
    }
  }
  // The source's copy goes: a partition's records live in one cluster (the hub refuses two).
  Status removed = from.Transaction([&]() -> Status {
    const std::string list = "coffre_records_p" + std::to_string(partition);  // a number
    COFFRE_RETURN_IF_ERROR(from.Exec("DROP TABLE IF EXISTS " + list).status());
    for (const char* table : {"coffre_batches", "coffre_gaps", "coffre_partitions"}) {
      COFFRE_RETURN_IF_ERROR(
          from.Exec(std::string("DELETE FROM ") + table + " WHERE partition = $1", {p}).status());
    }
    return Status::Ok();
  });
  COFFRE_RETURN_IF_ERROR(removed);
  if (!moved.copied) {
    COFFRE_ASSIGN_OR_RETURN(PgRows counted,
                            to.Exec("SELECT count(*) FROM coffre_records WHERE partition = $1", {p}));
    COFFRE_ASSIGN_OR_RETURN(moved.records, MovedNumber(counted.Value(0, 0)));
  }
  return moved;
}

}  // namespace coffre::pgstore
