#pragma once
// The partition-to-cluster map of cluster mode: telemetry partitions kept in PostgreSQL
// clusters of their own, beside the main store (HubOptions::postgres_conninfo), which keeps
// the partitions not listed and all the metadata. Each entry is one flag value,
// --postgres-partition-cluster "PARTITIONS=CONNINFO": PARTITIONS a comma list of numbers and
// ranges ("2,3", "4-7"), CONNINFO a libpq connection string (no password: passfile=).
// docs/CLUSTER.md, "Partitions over several PostgreSQL clusters".

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace coffre::hubservice {

struct PartitionCluster {
  std::vector<int> partitions;  // as listed
  std::string conninfo;
};

// One flag value; INVALID_ARGUMENT saying what is wrong (never quoting the connection string,
// to be prefixed with the entry's name).
Result<PartitionCluster> ParsePartitionCluster(std::string_view text);

// Each entry's partitions below `partitions` and listed once across entries, its connection
// string non-empty and without a password, and no entry unless `clustered` (a map needs a main
// store). INVALID_ARGUMENT naming the entry ("--postgres-partition-cluster entry 2 (4-7)").
Status CheckPartitionClusters(const std::vector<PartitionCluster>& clusters, int partitions,
                              bool clustered);

// "2,3" for the errors and logs.
std::string PartitionList(const std::vector<int>& partitions);

}  // namespace coffre::hubservice
