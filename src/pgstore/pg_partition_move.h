#pragma once
// MovePartition: one telemetry partition's history moved from one PostgreSQL cluster of a
// cluster-mode hub to another (coffre move-partition; docs/CLUSTER.md, "Adding a cluster"),
// with every hub node of the store stopped. The target gets the hub's tables (as the hub makes
// them) and, in one transaction, the partition's rows: coffre_partitions, coffre_records (the
// blocks they need), coffre_batches and coffre_gaps, copied as stored (the rows are sealed by
// the service key, for the partition and sequence only, so they open anywhere). The copy is
// then compared with the source (count, bytes and a digest of the records) and the partition
// removed from the source. Run again after an interruption, it finishes the move: a target
// already holding the same copy only has the source removed. Refused: a target holding other
// records of the partition, or no such partition in the source.

#include <cstdint>

#include "common/result.h"
#include "pgstore/pg_connection.h"

namespace coffre::pgstore {

struct PgMoved {
  uint64_t records = 0;
  uint64_t batches = 0;
  uint64_t gaps = 0;
  bool copied = false;  // false: the target held the copy already (a move run again)
};

Result<PgMoved> MovePartition(PgConnection& from, PgConnection& to, int partition);

}  // namespace coffre::pgstore
