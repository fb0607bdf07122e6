#pragma once
// HubDataStore: where a hub keeps its data, chosen once at start. Embedded (the default): the
// metadata in RocksDB under DIR/meta and telemetry in segment files under DIR/telemetry, both
// under the file cipher. Cluster mode (HubOptions::postgres_conninfo): both in PostgreSQL
// (pgstore), every row sealed by the infrastructure layer before it leaves the hub, after a
// check that the server commits to a synchronous standby (pgstore/pg_durability.h); the node
// registers itself there (pgstore/pg_node_registry.h), beside the other hub nodes of the store.
// Either way the service key is the infrastructure layer's, and the customer layer is above.
// Cluster mode may keep some telemetry partitions in PostgreSQL clusters of their own
// (partition_clusters.h): a pool each, the same row cipher, checked at start against the map
// the store recorded (partition_map_check.h).

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "common/result.h"
#include "crypto/secret_bytes.h"
#include "hub/other_nodes.h"
#include "hub/telemetry_store.h"
#include "hubservice/cluster_link.h"
#include "hubservice/partition_clusters.h"
#include "storage/disk_reserve.h"
#include "storage/kv_store.h"

namespace coffre::pgstore {
class PgPool;
class PgRowCipher;
class PgKvStore;
class PgNodeRegistry;
class PgNotifyKey;
}  // namespace coffre::pgstore

namespace coffre::storage {
class RocksKvStore;
}

namespace coffre::hubservice {

struct HubDataStoreOptions {
  std::filesystem::path dir;  // the hub's data directory (embedded mode's files)
  const crypto::SecretBytes* service_key = nullptr;  // must outlive the store
  storage::DiskReserve* reserve = nullptr;           // embedded mode; may be null
  std::string postgres_conninfo;  // empty: embedded
  bool postgres_relaxed_durability = false;
  int partitions = 4;  // the telemetry partitions' rows made in a new cluster store
  std::string hub_name;  // cluster mode: must be the store's (cluster_identity.h)
  // Cluster mode: partitions kept in other PostgreSQL clusters (the rest in the main store).
  std::vector<PartitionCluster> partition_clusters;
};

class HubDataStore {
 public:
  static Result<std::unique_ptr<HubDataStore>> Open(const HubDataStoreOptions& options);
  ~HubDataStore();

  storage::KvStore& kv() { return *kv_; }
  // Where the telemetry store keeps its partitions (its `open_log`; unset for embedded mode).
  void ConfigureTelemetry(hub::TelemetryStoreOptions& telemetry);
  // Erasure: deleted values physically gone from the store's files (RocksDB: compaction;
  // PostgreSQL: VACUUM).
  Status DestroyDeletedData();
  bool clustered() const { return pool_ != nullptr; }
  // Cluster mode only: how this node reaches the others (cluster_link.h).
  const ClusterLink& link() const { return *link_; }
  // Cluster mode: this node's id (node_id.h); empty in embedded mode.
  const std::string& node_id() const { return node_id_; }
  // The other hub nodes alive on the store now, with what each says of itself (null in
  // embedded mode: there are none).
  hub::OtherLiveNodes other_nodes();
  // Cluster mode: connections dropped after a failure since start (0 in embedded mode).
  uint64_t reconnects() const;

 private:
  HubDataStore() = default;
  // The partition clusters' pools, checked and made ready for their partitions.
  Status OpenPartitionClusters(const HubDataStoreOptions& o);

  std::unique_ptr<pgstore::PgPool> pool_;
  std::unique_ptr<pgstore::PgNodeRegistry> nodes_;  // cluster mode
  std::unique_ptr<pgstore::PgRowCipher> cipher_;
  std::unique_ptr<pgstore::PgNotifyKey> notify_key_;  // cluster mode
  std::unique_ptr<ClusterLink> link_;                 // cluster mode
  std::unique_ptr<storage::RocksKvStore> rocks_;
  std::unique_ptr<pgstore::PgKvStore> pg_kv_;
  storage::KvStore* kv_ = nullptr;  // one of the two
  std::string node_id_;
  std::vector<std::unique_ptr<pgstore::PgPool>> partition_pools_;  // one per partition cluster
  std::vector<pgstore::PgPool*> pool_of_partition_;  // by partition: pool_ or a partition pool
};

}  // namespace coffre::hubservice
