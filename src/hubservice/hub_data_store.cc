#include "hubservice/hub_data_store.h"

#include <unistd.h>

#include "common/log.h"
#include "hubservice/cluster_identity.h"
#include "hubservice/node_id.h"
#include "pgstore/pg_durability.h"
#include "pgstore/pg_kv_store.h"
#include "pgstore/pg_node_registry.h"
#include "pgstore/pg_partition_log.h"
#include "pgstore/pg_pool.h"
#include "pgstore/pg_row_cipher.h"
#include "pgstore/pg_telemetry_log.h"
#include "storage/rocks_kv_store.h"

namespace coffre::hubservice {

HubDataStore::~HubDataStore() = default;

Result<std::unique_ptr<HubDataStore>> HubDataStore::Open(const HubDataStoreOptions& o) {
  std::unique_ptr<HubDataStore> store(new HubDataStore());
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
  store->conninfo_ = o.postgres_conninfo;
  char host[256] = {};
  (void)gethostname(host, sizeof host - 1);
  COFFRE_ASSIGN_OR_RETURN(store->nodes_, pgstore::PgNodeRegistry::Register(
                                             *store->pool_, store->node_id_,
                                             "pid " + std::to_string(getpid()) + " on " + host));
  Status checked = store->pool_->Run([&](pgstore::PgConnection& db) -> Status {
    COFFRE_RETURN_IF_ERROR(pgstore::CheckDurability(db, o.postgres_relaxed_durability));
    return pgstore::PgPartitionLog::Create(db, o.partitions);
  });
  COFFRE_RETURN_IF_ERROR(checked);
  COFFRE_ASSIGN_OR_RETURN(store->cipher_, pgstore::PgRowCipher::Create(*o.service_key));
  COFFRE_ASSIGN_OR_RETURN(store->pg_kv_, pgstore::PgKvStore::Open(*store->pool_, *store->cipher_));
  store->kv_ = store->pg_kv_.get();
  COFFRE_RETURN_IF_ERROR(CheckClusterIdentity(*store->kv_, {o.hub_name, o.partitions}));
  LogLine("store", "cluster mode: metadata and telemetry in PostgreSQL; this is node " +
                       store->node_id_);
  return store;
}

void HubDataStore::ConfigureTelemetry(hub::TelemetryStoreOptions& telemetry) {
  if (!clustered()) return;
  telemetry.open_log = [this](int partition) -> Result<std::unique_ptr<storage::PartitionLog>> {
    COFFRE_ASSIGN_OR_RETURN(auto log, pgstore::PgTelemetryLog::Open(*pool_, *cipher_, partition));
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

Result<std::vector<std::string>> HubDataStore::live_node_ids() {
  if (!clustered()) return std::vector<std::string>{};
  COFFRE_ASSIGN_OR_RETURN(std::vector<pgstore::PgNode> live, nodes_->LiveNodes());
  std::vector<std::string> ids;
  for (const pgstore::PgNode& n : live) ids.push_back(n.node_id);
  return ids;
}

uint64_t HubDataStore::reconnects() const { return pool_ ? pool_->reconnects() : 0; }

Status HubDataStore::DestroyDeletedData() {
  return clustered() ? pg_kv_->DestroyDeletedData() : rocks_->DestroyDeletedData();
}

}  // namespace coffre::hubservice
