#include "pgstore/pg_partition_log.h"

#include "pgstore/pg_schema_lock.h"

#include "common/encoding.h"
#include "common/numbers.h"

namespace coffre::pgstore {
namespace {

Result<uint64_t> Number(const std::string& text) {
  std::optional<uint64_t> v = ParseUnsigned(text);
  if (!v) return Internal("PostgreSQL returned '" + text + "' for a number");
  return *v;
}

PgParam Seq(uint64_t sequence) { return PgParam::Int(static_cast<int64_t>(sequence)); }

// A block of a partition's records: a table of its own, so that retention drops whole tables
// (no dead rows, no vacuum). Made when the first record that falls in it is appended.
constexpr const char* kBlockFunction = R"(
CREATE OR REPLACE FUNCTION coffre_block(p int, b bigint, size bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  name text := format('coffre_records_p%s_b%s', p, b);
BEGIN
  IF to_regclass(name) IS NULL THEN
    EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%s) TO (%s)', name,
                   format('coffre_records_p%s', p), b * size, (b + 1) * size);
  END IF;
END $$)";

// A batch in one round trip and one implicit transaction: the partition row's lock first (so
// the sequence order is the commit order), then the batch id (a retry returns the first
// commit's range), then the expected start, then the blocks the rows need, then the rows. Its
// plans are cached by the server. Outcomes: 'ok' (and the first sequence), 'done' (committed
// before), 'other' (the id was another batch), 'moved' (another writer got there first; the
// first sequence is where it continues), 'none' (no such partition).
constexpr const char* kAppendFunction = R"(
CREATE OR REPLACE FUNCTION coffre_append(p int, batch text, expect bigint, times bigint[],
                                         records text[], OUT outcome text, OUT first bigint)
LANGUAGE plpgsql AS $$
DECLARE
  n int := cardinality(records);
  size bigint;
  seen record;
BEGIN
  SELECT next_sequence, block_records INTO first, size FROM coffre_partitions
    WHERE partition = p FOR UPDATE;
  IF NOT FOUND THEN outcome := 'none'; RETURN; END IF;
  SELECT b.partition, b.first_sequence, b.records INTO seen FROM coffre_batches b
    WHERE b.batch_id = batch;
  IF FOUND THEN
    outcome := CASE WHEN seen.partition = p AND seen.records = n THEN 'done' ELSE 'other' END;
    first := seen.first_sequence;
    RETURN;
  END IF;
  IF expect IS NOT NULL AND expect <> first THEN outcome := 'moved'; RETURN; END IF;
  FOR b IN first / size .. (first + n - 1) / size LOOP
    PERFORM coffre_block(p, b, size);
  END LOOP;
  INSERT INTO coffre_records (partition, sequence, time_ms, record)
    SELECT p, first + o - 1, t, decode(r, 'hex')
    FROM unnest(times, records) WITH ORDINALITY AS u(t, r, o);
  UPDATE coffre_partitions SET next_sequence = first + n, link = NULL, last_time_ms = NULL,
    bytes = bytes + (SELECT coalesce(sum(length(r)), 0) / 2 FROM unnest(records) AS r)
    WHERE partition = p;
  INSERT INTO coffre_batches VALUES (batch, p, first, n);
  outcome := 'ok';
END $$)";

// coffre_append, then the partition's tail as its writer computed it (the chain link after
// the batch, sealed, and the batch's last time), in the same statement.
constexpr const char* kAppendTailFunction = R"(
CREATE OR REPLACE FUNCTION coffre_append_tail(p int, batch text, expect bigint, times bigint[],
                                              records text[], tail_time bigint, tail_link bytea,
                                              OUT outcome text, OUT first bigint)
LANGUAGE plpgsql AS $$
BEGIN
  SELECT a.outcome, a.first INTO outcome, first FROM coffre_append(p, batch, expect, times, records) a;
  IF outcome = 'ok' THEN
    UPDATE coffre_partitions SET link = tail_link, last_time_ms = tail_time WHERE partition = p;
  END IF;
END $$)";

}  // namespace

Status PgPartitionLog::Create(PgConnection& db, int partitions, uint64_t block_records) {
  std::vector<int> all;
  for (int p = 0; p < partitions; ++p) all.push_back(p);
  return Create(db, all, block_records);
}

Status PgPartitionLog::Create(PgConnection& db, std::span<const int> partitions,
                              uint64_t block_records) {
  if (block_records == 0) return InvalidArgument("a block holds at least one record");
  return WithSchemaLock(db, [&]() -> Status {
    // One statement per Exec: libpq's parameterised form takes no more.
    for (const char* table :
         {"CREATE TABLE IF NOT EXISTS coffre_partitions ("
          " partition int PRIMARY KEY, next_sequence bigint NOT NULL,"
          " first_sequence bigint NOT NULL DEFAULT 0, bytes bigint NOT NULL DEFAULT 0,"
          " block_records bigint NOT NULL)",
          // Records by partition, then by blocks of sequence numbers (coffre_block).
          "CREATE TABLE IF NOT EXISTS coffre_records ("
          " partition int NOT NULL, sequence bigint NOT NULL, time_ms bigint NOT NULL DEFAULT 0,"
          " record bytea NOT NULL, PRIMARY KEY (partition, sequence)) PARTITION BY LIST (partition)",
          "CREATE INDEX IF NOT EXISTS coffre_records_by_time ON coffre_records (partition, time_ms)",
          "CREATE TABLE IF NOT EXISTS coffre_batches ("
          " batch_id text PRIMARY KEY, partition int NOT NULL, first_sequence bigint NOT NULL,"
          " records int NOT NULL)",
          "CREATE TABLE IF NOT EXISTS coffre_gaps ("
          " partition int NOT NULL, from_sequence bigint NOT NULL, to_sequence bigint NOT NULL,"
          " PRIMARY KEY (partition, from_sequence))",
          // The tail a shared writer seals from (null: not known, read from the last record).
          "ALTER TABLE coffre_partitions ADD COLUMN IF NOT EXISTS link bytea",
          "ALTER TABLE coffre_partitions ADD COLUMN IF NOT EXISTS last_time_ms bigint",
          kBlockFunction, kAppendFunction, kAppendTailFunction}) {
      COFFRE_RETURN_IF_ERROR(db.Exec(table).status());
    }
    for (int p : partitions) {
      // A number, not a caller's string: safe to put into the statement.
      std::string list = "coffre_records_p" + std::to_string(p);
      COFFRE_RETURN_IF_ERROR(db.Exec("CREATE TABLE IF NOT EXISTS " + list + " PARTITION OF "
                                     "coffre_records FOR VALUES IN (" + std::to_string(p) +
                                     ") PARTITION BY RANGE (sequence)").status());
      COFFRE_RETURN_IF_ERROR(db.Exec("INSERT INTO coffre_partitions (partition, next_sequence, "
                                     "block_records) VALUES ($1, 0, $2) "
                                     "ON CONFLICT (partition) DO NOTHING",
                                     {PgParam::Int(p), Seq(block_records)}).status());
    }
    return Status::Ok();
  });
}

Result<std::vector<int>> PgPartitionLog::Written(PgConnection& db) {
  COFFRE_ASSIGN_OR_RETURN(PgRows made, db.Exec("SELECT to_regclass('coffre_partitions') IS NOT NULL"));
  std::vector<int> written;
  if (made.Value(0, 0) != "t") return written;
  COFFRE_ASSIGN_OR_RETURN(PgRows rows, db.Exec("SELECT partition FROM coffre_partitions "
                                               "WHERE next_sequence > 0 ORDER BY partition"));
  for (size_t i = 0; i < rows.size(); ++i) {
    COFFRE_ASSIGN_OR_RETURN(uint64_t p, Number(rows.Value(i, 0)));
    written.push_back(static_cast<int>(p));
  }
  return written;
}

Result<uint64_t> PgPartitionLog::Append(int partition, const std::string& batch_id,
                                        const std::vector<Bytes>& records) {
  std::vector<PgRecord> with_times;
  for (const Bytes& r : records) with_times.push_back({0, 0, r});
  return Append(partition, batch_id, with_times);
}

Result<uint64_t> PgPartitionLog::Append(int partition, const std::string& batch_id,
                                        std::span<const PgRecord> records,
                                        std::optional<uint64_t> expect_first) {
  return AppendWith(partition, batch_id, records, expect_first, nullptr);
}

Result<uint64_t> PgPartitionLog::AppendWithTail(int partition, const std::string& batch_id,
                                                std::span<const PgRecord> records,
                                                uint64_t expect_first, const PgTail& tail) {
  return AppendWith(partition, batch_id, records, expect_first, &tail);
}

Result<uint64_t> PgPartitionLog::AppendWith(int partition, const std::string& batch_id,
                                            std::span<const PgRecord> records,
                                            std::optional<uint64_t> expect_first,
                                            const PgTail* tail) {
  if (records.empty()) return InvalidArgument("an empty batch");
  // The whole batch as two array literals: times, and records in hex.
  std::string times = "{", hex = "{";
  for (const PgRecord& r : records) {
    if (times.size() > 1) times += ',', hex += ',';
    times += std::to_string(r.time_ms);
    hex += HexEncode(r.record);
  }
  times += '}', hex += '}';
  PgParam expect = expect_first.has_value() ? Seq(*expect_first) : PgParam::Null();
  std::vector<PgParam> params = {PgParam::Int(partition), PgParam::Text(batch_id), expect,
                                 PgParam::Text(times), PgParam::Text(hex)};
  std::string call = "SELECT outcome, first FROM coffre_append($1, $2, $3, $4::bigint[], $5::text[])";
  if (tail != nullptr) {
    call = "SELECT outcome, first FROM coffre_append_tail($1, $2, $3, $4::bigint[], $5::text[], "
           "$6, $7)";
    params.push_back(PgParam::Int(tail->last_time_ms));
    params.push_back(tail->link ? PgParam::Bytes(*tail->link) : PgParam::Null());
  }
  COFFRE_ASSIGN_OR_RETURN(PgRows out, db_.Exec(call, params));
  if (out.size() != 1) return Internal("coffre_append answered no row");
  const std::string& outcome = out.Value(0, 0);
  if (outcome == "none") return NotFound("no partition " + std::to_string(partition));
  if (outcome == "other") return InvalidArgument("batch " + batch_id + " was another batch");
  COFFRE_ASSIGN_OR_RETURN(uint64_t first, Number(out.Value(0, 1)));
  if (outcome == "moved") {
    return FailedPrecondition("telemetry partition " + std::to_string(partition) +
                              " was written by another writer: it continues at " +
                              std::to_string(first) + ", not " + std::to_string(*expect_first));
  }
  if (outcome != "ok" && outcome != "done") return Internal("coffre_append: " + outcome);
  return first;
}

Result<PgPartitionLog::LockedTail> PgPartitionLog::LockTail(int partition,
                                                            const std::string& batch_id) {
  COFFRE_ASSIGN_OR_RETURN(
      PgRows rows,
      db_.Exec("SELECT next_sequence, coalesce(last_time_ms, (SELECT time_ms FROM coffre_records "
               "r WHERE r.partition = p.partition ORDER BY sequence DESC LIMIT 1), 0), "
               "encode(link, 'hex'), (SELECT first_sequence FROM coffre_batches "
               "WHERE batch_id = $2 AND partition = p.partition) "
               "FROM coffre_partitions p WHERE partition = $1 FOR UPDATE",
               {PgParam::Int(partition), PgParam::Text(batch_id)}));
  if (rows.size() != 1) return NotFound("no partition " + std::to_string(partition));
  LockedTail out;
  COFFRE_ASSIGN_OR_RETURN(out.next, Number(rows.Value(0, 0)));
  COFFRE_ASSIGN_OR_RETURN(uint64_t time, Number(rows.Value(0, 1)));
  out.tail.last_time_ms = static_cast<int64_t>(time);
  if (!rows.Value(0, 2).empty()) {  // NULL reads as empty
    COFFRE_ASSIGN_OR_RETURN(Bytes link, HexDecode(rows.Value(0, 2)));
    out.tail.link = std::move(link);
  }
  if (!rows.Value(0, 3).empty()) {
    COFFRE_ASSIGN_OR_RETURN(uint64_t first, Number(rows.Value(0, 3)));
    out.committed_first = first;
  }
  return out;
}

Result<std::vector<PgRecord>> PgPartitionLog::Read(int partition, uint64_t from, size_t max,
                                                   size_t max_bytes) {
  max = std::min<size_t>(max, 100'000);
  COFFRE_ASSIGN_OR_RETURN(
      PgRows rows,
      db_.Exec("SELECT sequence, time_ms, encode(record, 'hex') FROM coffre_records "
               "WHERE partition = $1 AND sequence >= $2 ORDER BY sequence LIMIT $3",
               {PgParam::Int(partition), Seq(from), PgParam::Int(static_cast<int64_t>(max))}));
  std::vector<PgRecord> out;
  size_t bytes = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    PgRecord record;
    COFFRE_ASSIGN_OR_RETURN(record.sequence, Number(rows.Value(r, 0)));
    COFFRE_ASSIGN_OR_RETURN(uint64_t time, Number(rows.Value(r, 1)));
    record.time_ms = static_cast<int64_t>(time);
    COFFRE_ASSIGN_OR_RETURN(record.record, HexDecode(rows.Value(r, 2)));
    bytes += record.record.size();
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(std::move(record));
  }
  return out;
}

Result<uint64_t> PgPartitionLog::End(int partition) {
  COFFRE_ASSIGN_OR_RETURN(PgPartitionState state, State(partition));
  return state.next;
}

Result<PgPartitionState> PgPartitionLog::State(int partition) {
  COFFRE_ASSIGN_OR_RETURN(PgRows rows, db_.Exec("SELECT first_sequence, next_sequence, bytes, "
                                                "block_records FROM coffre_partitions "
                                                "WHERE partition = $1",
                                                {PgParam::Int(partition)}));
  if (rows.size() != 1) return NotFound("no partition " + std::to_string(partition));
  PgPartitionState state;
  COFFRE_ASSIGN_OR_RETURN(state.first, Number(rows.Value(0, 0)));
  COFFRE_ASSIGN_OR_RETURN(state.next, Number(rows.Value(0, 1)));
  COFFRE_ASSIGN_OR_RETURN(state.bytes, Number(rows.Value(0, 2)));
  COFFRE_ASSIGN_OR_RETURN(state.block_records, Number(rows.Value(0, 3)));
  return state;
}

Result<int64_t> PgPartitionLog::LastTime(int partition) {
  COFFRE_ASSIGN_OR_RETURN(PgRows rows, db_.Exec("SELECT time_ms FROM coffre_records "
                                                "WHERE partition = $1 "
                                                "ORDER BY sequence DESC LIMIT 1",
                                                {PgParam::Int(partition)}));
  if (rows.size() == 0) return int64_t{0};
  COFFRE_ASSIGN_OR_RETURN(uint64_t time, Number(rows.Value(0, 0)));
  return static_cast<int64_t>(time);
}

Result<std::optional<uint64_t>> PgPartitionLog::FirstAtOrAfter(int partition, int64_t time_ms) {
  COFFRE_ASSIGN_OR_RETURN(PgRows rows, db_.Exec("SELECT min(sequence) FROM coffre_records "
                                                "WHERE partition = $1 AND time_ms >= $2",
                                                {PgParam::Int(partition), PgParam::Int(time_ms)}));
  if (rows.size() == 0 || rows.Value(0, 0).empty()) return std::optional<uint64_t>();
  COFFRE_ASSIGN_OR_RETURN(uint64_t first, Number(rows.Value(0, 0)));
  return std::optional<uint64_t>(first);
}

Status PgPartitionLog::SkipTo(int partition, uint64_t expect_end, uint64_t sequence) {
  return db_.Transaction([&]() -> Status {
    COFFRE_ASSIGN_OR_RETURN(PgRows next, db_.Exec("SELECT next_sequence FROM coffre_partitions "
                                                  "WHERE partition = $1 FOR UPDATE",
                                                  {PgParam::Int(partition)}));
    if (next.size() != 1) return NotFound("no partition " + std::to_string(partition));
    if (next.Value(0, 0) != std::to_string(expect_end)) {
      return FailedPrecondition("telemetry partition " + std::to_string(partition) +
                                " was written by another writer");
    }
    if (sequence <= expect_end) return Status::Ok();
    COFFRE_RETURN_IF_ERROR(db_.Exec("INSERT INTO coffre_gaps VALUES ($1, $2, $3)",
                                    {PgParam::Int(partition), Seq(expect_end), Seq(sequence)})
                               .status());
    return db_.Exec("UPDATE coffre_partitions SET next_sequence = $2, link = NULL "
                    "WHERE partition = $1",
                    {PgParam::Int(partition), Seq(sequence)}).status();
  });
}

Result<std::vector<std::pair<uint64_t, uint64_t>>> PgPartitionLog::Gaps(int partition) {
  COFFRE_ASSIGN_OR_RETURN(PgRows rows, db_.Exec("SELECT from_sequence, to_sequence FROM "
                                                "coffre_gaps WHERE partition = $1 "
                                                "ORDER BY from_sequence",
                                                {PgParam::Int(partition)}));
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (size_t r = 0; r < rows.size(); ++r) {
    COFFRE_ASSIGN_OR_RETURN(uint64_t from, Number(rows.Value(r, 0)));
    COFFRE_ASSIGN_OR_RETURN(uint64_t to, Number(rows.Value(r, 1)));
    out.emplace_back(from, to);
  }
  return out;
}

Result<PgDeleted> PgPartitionLog::DropBlocksBefore(int partition, uint64_t sequence) {
  PgDeleted dropped;
  Status ran = db_.Transaction([&]() -> Status {
    COFFRE_ASSIGN_OR_RETURN(PgRows row, db_.Exec("SELECT first_sequence, block_records FROM "
                                                 "coffre_partitions WHERE partition = $1 "
                                                 "FOR UPDATE",
                                                 {PgParam::Int(partition)}));
    if (row.size() != 1) return NotFound("no partition " + std::to_string(partition));
    COFFRE_ASSIGN_OR_RETURN(uint64_t first, Number(row.Value(0, 0)));
    COFFRE_ASSIGN_OR_RETURN(uint64_t size, Number(row.Value(0, 1)));
    if (sequence % size != 0) return InvalidArgument("retention drops whole blocks");
    for (uint64_t b = first / size; b < sequence / size; ++b) {
      // Numbers only: safe to put into the statements.
      std::string block = "coffre_records_p" + std::to_string(partition) + "_b" + std::to_string(b);
      COFFRE_ASSIGN_OR_RETURN(PgRows exists, db_.Exec("SELECT to_regclass($1) IS NOT NULL",
                                                      {PgParam::Text(block)}));
      if (exists.Value(0, 0) != "t") continue;  // a block no record fell in (a gap)
      COFFRE_ASSIGN_OR_RETURN(PgRows size_of, db_.Exec("SELECT count(*), coalesce(sum("
                                                       "octet_length(record)), 0) FROM " + block));
      COFFRE_ASSIGN_OR_RETURN(uint64_t records, Number(size_of.Value(0, 0)));
      COFFRE_ASSIGN_OR_RETURN(uint64_t bytes, Number(size_of.Value(0, 1)));
      COFFRE_RETURN_IF_ERROR(db_.Exec("DROP TABLE " + block).status());
      dropped.records += records;
      dropped.bytes += bytes;
      ++dropped.blocks;
    }
    COFFRE_RETURN_IF_ERROR(db_.Exec("UPDATE coffre_partitions SET first_sequence = "
                                    "greatest(first_sequence, $2), bytes = greatest(bytes - $3, 0) "
                                    "WHERE partition = $1",
                                    {PgParam::Int(partition), Seq(sequence), Seq(dropped.bytes)})
                               .status());
    COFFRE_RETURN_IF_ERROR(db_.Exec("DELETE FROM coffre_batches WHERE partition = $1 AND "
                                    "first_sequence + records <= $2",
                                    {PgParam::Int(partition), Seq(sequence)}).status());
    return db_.Exec("DELETE FROM coffre_gaps WHERE partition = $1 AND to_sequence <= $2",
                    {PgParam::Int(partition), Seq(sequence)}).status();
  });
  COFFRE_RETURN_IF_ERROR(ran);
  return dropped;
}

}  // namespace coffre::pgstore
