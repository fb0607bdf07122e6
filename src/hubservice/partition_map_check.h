#pragma once
// CheckPartitionMap: at start, whether this node's partition-to-cluster map
// (partition_clusters.h) can be used without splitting or losing a partition's history.
//
// What is recorded: the main store's metadata row "cluster/partition-map" holds the store's id
// and where each partition lives (a cluster's id; absent: the main store); each cluster holds
// a stamp (pgstore/pg_cluster_stamp.h): the store's id, its own id, the hub's name and its
// partitions. The rule, per partition P, where P's place is the cluster that holds it:
//   - a listed cluster stamped for another store, or as this store's main store, or reached by
//     two entries, is refused;
//   - if this node puts P where the recorded map does, fine; otherwise (the map changed) only
//     when no other hub node is live, the recorded place is one this node reaches (the main
//     store or a listed cluster) and holds no record of P (its history was moved out);
//   - a place this node reaches holding records of P where this node does not put P is
//     refused (a copy left behind, or a wrong map).
// Every refusal is FAILED_PRECONDITION naming the partition and both places. Passed: the
// stamps and the recorded map are written as this node's map.

#include <string>
#include <vector>

#include "common/result.h"
#include "pgstore/pg_pool.h"
#include "storage/kv_store.h"

namespace coffre::hubservice {

// A listed cluster, as HubDataStore opened it.
struct PartitionPlace {
  std::string name;          // "--postgres-partition-cluster entry 2 (partitions 4-7)"
  std::vector<int> partitions;
  pgstore::PgPool* pool = nullptr;
};

struct PartitionMapInput {
  storage::KvStore* kv = nullptr;  // the main store's metadata
  pgstore::PgPool* main = nullptr;
  std::vector<PartitionPlace> clusters;
  int partitions = 0;
  std::string hub_name;
  std::vector<std::string> other_live_nodes;  // hub nodes live on the store now, but this one
};

Status CheckPartitionMap(const PartitionMapInput& input);

}  // namespace coffre::hubservice
