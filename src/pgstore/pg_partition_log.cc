#include "pgstore/pg_partition_log.h"

#include <cstdlib>

#include "common/encoding.h"

namespace coffre::pgstore {
namespace {

Result<uint64_t> Number(const std::string& text) {
  char* end = nullptr;
  unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || end == nullptr || *end != '\0') {
    return Internal("PostgreSQL returned '" + text + "' for a number");
  }
  return static_cast<uint64_t>(v);
}

}  // namespace

Status PgPartitionLog::Create(PgConnection& db, int partitions) {
  // One statement per Exec: libpq's parameterised form takes no more.
  for (const char* table :
       {"CREATE TABLE IF NOT EXISTS coffre_partitions ("
        " partition int PRIMARY KEY, next_sequence bigint NOT NULL)",
        "CREATE TABLE IF NOT EXISTS coffre_records ("
        " partition int NOT NULL, sequence bigint NOT NULL, record bytea NOT NULL,"
        " PRIMARY KEY (partition, sequence))",
        "CREATE TABLE IF NOT EXISTS coffre_batches ("
        " batch_id text PRIMARY KEY, partition int NOT NULL, first_sequence bigint NOT NULL,"
        " records int NOT NULL)"}) {
    COFFRE_RETURN_IF_ERROR(db.Exec(table).status());
  }
  for (int p = 0; p < partitions; ++p) {
    COFFRE_RETURN_IF_ERROR(db.Exec("INSERT INTO coffre_partitions VALUES ($1, 0) "
                                   "ON CONFLICT (partition) DO NOTHING",
                                   {PgParam::Int(p)}).status());
  }
  return Status::Ok();
}

Result<uint64_t> PgPartitionLog::Append(int partition, const std::string& batch_id,
                                        const std::vector<Bytes>& records) {
  if (records.empty()) return InvalidArgument("an empty batch");
  COFFRE_RETURN_IF_ERROR(db_.Exec("BEGIN").status());
  auto body = [&]() -> Result<uint64_t> {
    // The partition row's lock first: batches of one partition take turns from here to
    // COMMIT, which is what makes the sequence order the commit order.
    COFFRE_ASSIGN_OR_RETURN(PgRows next, db_.Exec("SELECT next_sequence FROM coffre_partitions "
                                                  "WHERE partition = $1 FOR UPDATE",
                                                  {PgParam::Int(partition)}));
    if (next.size() != 1) return NotFound("no partition " + std::to_string(partition));
    COFFRE_ASSIGN_OR_RETURN(PgRows done, db_.Exec("SELECT partition, first_sequence, records "
                                                  "FROM coffre_batches WHERE batch_id = $1",
                                                  {PgParam::Text(batch_id)}));
    if (done.size() == 1) {  // a retry: the batch committed before
      if (done.Value(0, 0) != std::to_string(partition) ||
          done.Value(0, 2) != std::to_string(records.size())) {
        return InvalidArgument("batch " + batch_id + " was another batch");
      }
      return Number(done.Value(0, 1));
    }
    COFFRE_ASSIGN_OR_RETURN(uint64_t first, Number(next.Value(0, 0)));
    uint64_t sequence = first;
    for (const Bytes& record : records) {
      COFFRE_RETURN_IF_ERROR(db_.Exec("INSERT INTO coffre_records VALUES ($1, $2, $3)",
                                      {PgParam::Int(partition),
                                       PgParam::Int(static_cast<int64_t>(sequence++)),
                                       PgParam::Bytes(record)}).status());
    }
    COFFRE_RETURN_IF_ERROR(db_.Exec("UPDATE coffre_partitions SET next_sequence = $2 "
                                    "WHERE partition = $1",
                                    {PgParam::Int(partition),
                                     PgParam::Int(static_cast<int64_t>(sequence))}).status());
    COFFRE_RETURN_IF_ERROR(db_.Exec("INSERT INTO coffre_batches VALUES ($1, $2, $3, $4)",
                                    {PgParam::Text(batch_id), PgParam::Int(partition),
                                     PgParam::Int(static_cast<int64_t>(first)),
                                     PgParam::Int(static_cast<int64_t>(records.size()))}).status());
    return first;
  };
  Result<uint64_t> first = body();
  if (!first.has_value()) {
    (void)db_.Exec("ROLLBACK");
    return first.error();
  }
  COFFRE_RETURN_IF_ERROR(db_.Exec("COMMIT").status());
  return first;
}

Result<std::vector<PgRecord>> PgPartitionLog::Read(int partition, uint64_t from, size_t max) {
  COFFRE_ASSIGN_OR_RETURN(
      PgRows rows,
      db_.Exec("SELECT sequence, encode(record, 'hex') FROM coffre_records "
               "WHERE partition = $1 AND sequence >= $2 ORDER BY sequence LIMIT $3",
               {PgParam::Int(partition), PgParam::Int(static_cast<int64_t>(from)),
                PgParam::Int(static_cast<int64_t>(max))}));
  std::vector<PgRecord> out;
  for (size_t r = 0; r < rows.size(); ++r) {
    PgRecord record;
    COFFRE_ASSIGN_OR_RETURN(record.sequence, Number(rows.Value(r, 0)));
    COFFRE_ASSIGN_OR_RETURN(record.record, HexDecode(rows.Value(r, 1)));
    out.push_back(std::move(record));
  }
  return out;
}

Result<uint64_t> PgPartitionLog::End(int partition) {
  COFFRE_ASSIGN_OR_RETURN(PgRows rows, db_.Exec("SELECT next_sequence FROM coffre_partitions "
                                                "WHERE partition = $1",
                                                {PgParam::Int(partition)}));
  if (rows.size() != 1) return NotFound("no partition " + std::to_string(partition));
  return Number(rows.Value(0, 0));
}

}  // namespace coffre::pgstore
