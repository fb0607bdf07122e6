#pragma once
// The settings every hub node on one cluster store must share, kept in the store's row
// "cluster/identity" by the first node that starts on it: the hub's name (the first host name,
// which every sealed record's associated data names) and the number of telemetry partitions
// (which spreads devices over partitions). A node started with other values is refused with
// both, instead of reading nothing ("damaged or forged") or splitting a device's messages over
// two partitions.

#include <string>

#include "common/result.h"
#include "storage/kv_store.h"

namespace coffre::hubservice {

struct ClusterIdentity {
  std::string hub_name;
  int partitions = 0;
};

// Stores `mine` if the store has no identity yet; otherwise FAILED_PRECONDITION unless it is
// the stored one.
Status CheckClusterIdentity(storage::KvStore& kv, const ClusterIdentity& mine);

}  // namespace coffre::hubservice
