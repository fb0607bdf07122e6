#include "cli/move_partition.h"

#include "pgstore/pg_partition_move.h"

namespace coffre::cli {

Result<std::string> MovePartitionCommand(const MovePartitionOptions& o) {
  if (o.partition < 0) return InvalidArgument("--partition must be a partition number");
  auto from = pgstore::PgConnection::Connect(o.from);
  if (!from.has_value()) return from.error().WithContext("--from");
  auto to = pgstore::PgConnection::Connect(o.to);
  if (!to.has_value()) return to.error().WithContext("--to");
  COFFRE_ASSIGN_OR_RETURN(pgstore::PgMoved moved,
                          pgstore::MovePartition(**from, **to, o.partition));
  return "telemetry partition " + std::to_string(o.partition) + ": " +
         std::to_string(moved.records) + " records, " + std::to_string(moved.batches) +
         " batches, " + std::to_string(moved.gaps) + " gaps " +
         (moved.copied ? "copied and checked" : "found copied already") +
         "; removed from the source. Now put it in the hub's partition map "
         "(--postgres-partition-cluster) and start the hub";
}

}  // namespace coffre::cli
