#include "pgstore/pg_cluster_stamp.h"

#include "common/numbers.h"
#include "common/strings.h"
#include "pgstore/pg_schema_lock.h"

namespace coffre::pgstore {
namespace {

std::string PartitionsText(const std::vector<int>& partitions) {
  std::string text;
  for (int p : partitions) text += (text.empty() ? "" : ",") + std::to_string(p);
  return text;
}

Result<std::vector<int>> PartitionsOf(const std::string& text) {
  std::vector<int> partitions;
  if (text.empty()) return partitions;
  for (std::string_view item : Split(text, ',')) {
    std::optional<uint64_t> p = ParseUnsigned(item, INT32_MAX);
    if (!p) return DataLoss("coffre_cluster_stamp lists '" + text + "' as its partitions");
    partitions.push_back(static_cast<int>(*p));
  }
  return partitions;
}

}  // namespace

Result<std::optional<PgClusterStamp>> ReadClusterStamp(PgConnection& db) {
  COFFRE_ASSIGN_OR_RETURN(PgRows made,
                          db.Exec("SELECT to_regclass('coffre_cluster_stamp') IS NOT NULL"));
  if (made.Value(0, 0) != "t") return std::optional<PgClusterStamp>();
  COFFRE_ASSIGN_OR_RETURN(PgRows rows, db.Exec("SELECT store_id, cluster_id, hub_name, partitions "
                                               "FROM coffre_cluster_stamp"));
  if (rows.size() == 0) return std::optional<PgClusterStamp>();
  PgClusterStamp stamp{rows.Value(0, 0), rows.Value(0, 1), rows.Value(0, 2), {}};
  COFFRE_ASSIGN_OR_RETURN(stamp.partitions, PartitionsOf(rows.Value(0, 3)));
  return std::optional<PgClusterStamp>(std::move(stamp));
}

Result<PgClusterStamp> ClaimClusterStamp(PgConnection& db, const PgClusterStamp& proposed) {
  Status made = WithSchemaLock(db, [&]() -> Status {
    COFFRE_RETURN_IF_ERROR(db.Exec("CREATE TABLE IF NOT EXISTS coffre_cluster_stamp ("
                                   " one boolean PRIMARY KEY DEFAULT true CHECK (one),"
                                   " store_id text NOT NULL, cluster_id text NOT NULL,"
                                   " hub_name text NOT NULL, partitions text NOT NULL)")
                               .status());
    // Two nodes claiming a new cluster at once: the first one's stamp stays.
    return db.Exec("INSERT INTO coffre_cluster_stamp (store_id, cluster_id, hub_name, partitions) "
                   "VALUES ($1, $2, $3, $4) ON CONFLICT (one) DO NOTHING",
                   {PgParam::Text(proposed.store_id), PgParam::Text(proposed.cluster_id),
                    PgParam::Text(proposed.hub_name),
                    PgParam::Text(PartitionsText(proposed.partitions))})
        .status();
  });
  COFFRE_RETURN_IF_ERROR(made);
  COFFRE_ASSIGN_OR_RETURN(std::optional<PgClusterStamp> stamp, ReadClusterStamp(db));
  if (!stamp) return Internal("coffre_cluster_stamp is empty after it was written");
  return std::move(*stamp);
}

Status SetStampedPartitions(PgConnection& db, const std::vector<int>& partitions) {
  return db.Exec("UPDATE coffre_cluster_stamp SET partitions = $1",
                 {PgParam::Text(PartitionsText(partitions))})
      .status();
}

}  // namespace coffre::pgstore
