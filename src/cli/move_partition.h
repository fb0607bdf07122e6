#pragma once
// coffre move-partition: a telemetry partition of a cluster-mode hub moved from one PostgreSQL
// cluster to another, every hub node stopped (pgstore/pg_partition_move.h; docs/CLUSTER.md,
// "Adding a cluster"). Prints what was moved; the hub's partition map is then changed by hand.

#include <string>

#include "common/result.h"

namespace coffre::cli {

struct MovePartitionOptions {
  std::string from;  // libpq connection strings (a password only through passfile=)
  std::string to;
  int partition = -1;
};

// What was moved, as a line for the operator.
Result<std::string> MovePartitionCommand(const MovePartitionOptions& options);

}  // namespace coffre::cli
