#pragma once
// PgClusterStamp: what a PostgreSQL cluster holds for a hub whose telemetry partitions are
// spread over several clusters (hubservice/partition_clusters.h): which store it belongs to
// (the store's id and the hub's name), the id this cluster got when the store first used it,
// and the partitions the store's map gives it. The hub refuses, at start, a cluster stamped
// for another store; an operator reads it with psql. Plain text: ids and numbers, no secret.
//
// Table (one row, made by ClaimClusterStamp):
//   coffre_cluster_stamp (one boolean PRIMARY KEY, store_id text, cluster_id text,
//                         hub_name text, partitions text: "2,3")

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "pgstore/pg_connection.h"

namespace coffre::pgstore {

struct PgClusterStamp {
  std::string store_id;
  std::string cluster_id;
  std::string hub_name;
  std::vector<int> partitions;
};

// The cluster's stamp; nullopt if it has none (a cluster no store has used yet).
Result<std::optional<PgClusterStamp>> ReadClusterStamp(PgConnection& db);
// Stamps the cluster with `proposed` unless it has a stamp already; the stamp it has now.
Result<PgClusterStamp> ClaimClusterStamp(PgConnection& db, const PgClusterStamp& proposed);
// The partitions the stamp lists (after a change of the map).
Status SetStampedPartitions(PgConnection& db, const std::vector<int>& partitions);

}  // namespace coffre::pgstore
