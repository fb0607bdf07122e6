#include "hubservice/hub_data_store.h"

#include <unistd.h>

#include <algorithm>

#include "common/log.h"
#include "hubservice/cluster_identity.h"
#include "hubservice/node_id.h"
#include "hubservice/partition_map_check.h"
#include "pgstore/pg_durability.h"
#include "pgstore/pg_kv_store.h"
#include "pgstore/pg_node_registry.h"
#include "pgstore/pg_notify_key.h"
#include "pgstore/pg_partition_log.h"
#include "pgstore/pg_pool.h"
#include "pgstore/pg_row_cipher.h"
#include "pgstore/pg_telemetry_log.h"
#include "storage/rocks_kv_store.h"

namespace coffre::hubservice {

HubDataStore::~HubDataStore() = default;

Result<std::unique_ptr<HubDataStore>> HubDataStore::Open(const HubDataStoreOptions& o) {
  std::unique_ptr<HubDataStore> store(new HubDataStore());
  COFFRE_RETURN_IF_ERROR(
      CheckPartitionClusters(o.partition_clusters, o.partitions, !o.postgres_conninfo.empty()));
  if (o.postgres_conninfo.empty()) {
    COFFRE_ASSIGN_OR_RETURN(store->rocks_,
                            storage::RocksKvStore::Open(o.dir / "meta", {nullptr, o.service_key,
                                                                         o.reserve}));
    store->kv_ = store->rocks_.get();
    return store;
  }
  COFFRE_ASSIGN_OR_RETURN(store->node_id_, LoadOrMakeNodeId(o.dir));
  auto connected = pgstore::PgPool::Connect({o.postgres_conninfo});
  if (!connected.has_value()) return connected.error().WithContext("the cluster store");
  store->pool_ = std::move(*connected);
  char host[256] = {};
  (void)gethostname(host, sizeof host - 1);
  COFFRE_ASSIGN_OR_RETURN(store->nodes_, pgstore::PgNodeRegistry::Register(
                                             *store->pool_, store->node_id_,
                                             "pid " + std::to_string(getpid()) + " on " + host));
  Status checked = store->pool_->Run([&](pgstore::PgConnection& db) -> Status {
    return pgstore::CheckDurability(db, o.postgres_relaxed_durability);
  });
  COFFRE_RETURN_IF_ERROR(checked);
  COFFRE_ASSIGN_OR_RETURN(store->cipher_, pgstore::PgRowCipher::Create(*o.service_key));
  COFFRE_ASSIGN_OR_RETURN(store->notify_key_, pgstore::PgNotifyKey::Create(*o.service_key));
  HubDataStore* self = store.get();
  store->link_ = std::make_unique<ClusterLink>(ClusterLink{
      *store->pool_, o.postgres_conninfo, *store->notify_key_, store->node_id_,
      [self]() -> Result<std::vector<std::string>> {
        COFFRE_ASSIGN_OR_RETURN(std::vector<pgstore::PgNode> live, self->nodes_->LiveNodes());
        std::vector<std::string> ids;
        for (const pgstore::PgNode& n : live) ids.push_back(n.node_id);
        return ids;
      }});
  COFFRE_ASSIGN_OR_RETURN(store->pg_kv_, pgstore::PgKvStore::Open(*store->pool_, *store->cipher_));
  store->kv_ = store->pg_kv_.get();
  COFFRE_RETURN_IF_ERROR(CheckClusterIdentity(*store->kv_, {o.hub_name, o.partitions}));
  COFFRE_RETURN_IF_ERROR(store->OpenPartitionClusters(o));
  LogLine("store", "cluster mode: metadata and telemetry in PostgreSQL" +
                       std::string(o.partition_clusters.empty()
                                       ? ""
                                       : " (" + std::to_string(o.partition_clusters.size()) +
                                             " more clusters hold some partitions)") +
                       "; this is node " + store->node_id_);
  return store;
}

Status HubDataStore::OpenPartitionClusters(const HubDataStoreOptions& o) {
  pool_of_partition_.assign(static_cast<size_t>(o.partitions), pool_.get());
  PartitionMapInput map{kv_, pool_.get(), {}, o.partitions, o.hub_name, {}};
  for (size_t i = 0; i < o.partition_clusters.size(); ++i) {
    const PartitionCluster& entry = o.partition_clusters[i];
    std::vector<int> held = entry.partitions;
    std::sort(held.begin(), held.end());
    const std::string name = "--postgres-partition-cluster entry " + std::to_string(i + 1) +
                             " (partitions " + PartitionList(held) + ")";
    auto connected = pgstore::PgPool::Connect({entry.conninfo});
    if (!connected.has_value()) return connected.error().WithContext(name);
    Status durable = (*connected)->Run([&](pgstore::PgConnection& db) {
      return pgstore::CheckDurability(db, o.postgres_relaxed_durability);
    });
    if (!durable.ok()) return durable.WithContext(name);
    map.clusters.push_back({name, held, connected->get()});
    for (int p : held) pool_of_partition_[static_cast<size_t>(p)] = connected->get();
    partition_pools_.push_back(std::move(*connected));
  }
  COFFRE_ASSIGN_OR_RETURN(std::vector<pgstore::PgNode> live, nodes_->LiveNodes());
  for (const pgstore::PgNode& n : live) {
    if (n.node_id != node_id_) map.other_live_nodes.push_back(n.node_id + " (" + n.about + ")");
  }
  COFFRE_RETURN_IF_ERROR(CheckPartitionMap(map));
  // Each cluster's tables and partition rows, for the partitions it holds.
  std::vector<int> main_partitions;
  for (int p = 0; p < o.partitions; ++p) {
    if (pool_of_partition_[static_cast<size_t>(p)] == pool_.get()) main_partitions.push_back(p);
  }
  COFFRE_RETURN_IF_ERROR(pool_->Run([&](pgstore::PgConnection& db) {
    return pgstore::PgPartitionLog::Create(db, main_partitions);
  }));
  for (const PartitionPlace& place : map.clusters) {
    Status made = place.pool->Run([&](pgstore::PgConnection& db) {
      return pgstore::PgPartitionLog::Create(db, place.partitions);
    });
    if (!made.ok()) return made.WithContext(place.name);
  }
  return Status::Ok();
}

void HubDataStore::ConfigureTelemetry(hub::TelemetryStoreOptions& telemetry) {
  if (!clustered()) return;
  telemetry.open_log = [this](int partition) -> Result<std::unique_ptr<storage::PartitionLog>> {
    if (partition < 0 || static_cast<size_t>(partition) >= pool_of_partition_.size()) {
      return InvalidArgument("no telemetry partition " + std::to_string(partition));
    }
    COFFRE_ASSIGN_OR_RETURN(auto log, pgstore::PgTelemetryLog::Open(
                                          *pool_of_partition_[static_cast<size_t>(partition)],
                                          *cipher_, partition));
    return std::unique_ptr<storage::PartitionLog>(std::move(log));
  };
}

hub::OtherLiveNodes HubDataStore::other_nodes() {
  if (!clustered()) return nullptr;
  return [this]() -> Result<std::vector<std::string>> {
    COFFRE_ASSIGN_OR_RETURN(std::vector<pgstore::PgNode> live, nodes_->LiveNodes());
    std::vector<std::string> others;
    for (const pgstore::PgNode& n : live) {
      if (n.node_id != node_id_) others.push_back(n.node_id + " (" + n.about + ")");
    }
    return others;
  };
}

uint64_t HubDataStore::reconnects() const { return pool_ ? pool_->reconnects() : 0; }

Status HubDataStore::DestroyDeletedData() {
  return clustered() ? pg_kv_->DestroyDeletedData() : rocks_->DestroyDeletedData();
}

}  // namespace coffre::hubservice
