#pragma once
// ClusterLink: what a hub node needs to reach the other nodes of its cluster store, in one
// place: the store's pool (rows and NOTIFY), the connection string its listeners connect with,
// the key its notifications are signed with (pgstore/pg_notify_key.h), its own id, and which
// nodes run. HubDataStore makes it in cluster mode; the node-to-node parts (ClusterSessions,
// ClusterErasures, ClusterHandoff, ClusterForwarding, ClusterReceivers) take it.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

// Declared only: this header stays free of libpq's (hub_data_store.h includes it).
namespace coffre::pgstore {
class PgPool;
class PgNotifyKey;
struct PgListenerOptions;
}  // namespace coffre::pgstore

namespace coffre::hubservice {

struct ClusterLink {
  pgstore::PgPool& pool;
  std::string conninfo;
  const pgstore::PgNotifyKey& notify_key;
  std::string node_id;
  // The ids of the nodes running on the store now, this one's included (a store query).
  std::function<Result<std::vector<std::string>>()> live_nodes;

  // A listener's options for `channels` of this store, its notifications verified by
  // notify_key; the caller adds on_notify and on_resync.
  pgstore::PgListenerOptions Listen(std::vector<std::string> channels) const;
  // NOTIFY on `channel`, signed.
  Status Notify(std::string_view channel, std::string_view payload) const;
};

}  // namespace coffre::hubservice
