#pragma once
// ClusterReceivers: Event Hubs epoch receivers across the hub nodes of a cluster store
// (amqp::EpochsElsewhere). A partition of a consumer group belongs to the receiver with the
// highest epoch on every node, as on one: the store keeps, per group and partition, the epoch
// that holds it and the node holding it (row "eh-epochs/<digest>", the digest of the group and
// partition keyed by the hub's root key; JSON {"epoch", "node"}), changed under the row's lock.
// A receiver with a lower epoch, or none, is refused while that node runs; one with a higher or
// equal epoch takes the row and tells every node (NOTIFY on coffre_eh_receivers: the digest,
// the epoch, the node), whose receivers of it with a lower or equal epoch, or none, are
// detached (amqp:link:stolen), as Event Hubs does. When a node's last epoch receiver of it
// leaves, the node clears the row. After a lost notification (a listener reconnecting) a node
// reads the row of each group and partition it serves and detaches what it should have. The
// cap of 5 receivers without an epoch stays per node. Thread-safe.

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "amqp/eventhub_nodes.h"
#include "common/result.h"
#include "hub/hub_keys.h"
#include "hubservice/cluster_link.h"
#include "pgstore/pg_listener.h"
#include "storage/kv_store.h"

namespace coffre::hubservice {

class ClusterReceivers final : public amqp::EpochsElsewhere {
 public:
  // Everything must outlive it.
  static Result<std::unique_ptr<ClusterReceivers>> Start(const ClusterLink& link,
                                                         storage::KvStore& kv, hub::HubKeys& keys);
  ~ClusterReceivers() override;  // stops the thread and the listener

  // This node's receivers, told when another node's take theirs; set once the AMQP server
  // runs (before: this node has none).
  void SetReceivers(amqp::EventHubReceivers* receivers);

  // amqp::EpochsElsewhere.
  Result<std::optional<int64_t>> Claim(const std::string& key, int64_t epoch) override;
  Result<std::optional<int64_t>> HeldElsewhere(const std::string& key) override;
  void Released(const std::string& key) override;

 private:
  ClusterReceivers(const ClusterLink& link, storage::KvStore& kv, hub::HubKeys& keys)
      : link_(link), kv_(kv), keys_(keys) {}
  struct Held {
    int64_t epoch = 0;
    std::string node;
  };
  Result<std::string> RowOf(const std::string& key);  // remembers the key by its digest
  static Result<std::optional<Held>> Parse(const Result<Bytes>& stored);
  // Whether `held` is another node's among `live`.
  bool HeldByAnotherLiveNode(const std::optional<Held>& held,
                             const std::vector<std::string>& live) const;
  void Notified(std::string_view payload);
  void Resync();
  void Run();  // clears released rows, resyncs

  const ClusterLink& link_;
  storage::KvStore& kv_;
  hub::HubKeys& keys_;
  std::unique_ptr<pgstore::PgListener> listener_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::string> keys_by_digest_;  // guarded by mu_
  amqp::EventHubReceivers* receivers_ = nullptr;       // guarded by mu_
  std::deque<std::string> released_;                   // keys; guarded by mu_
  bool resync_ = false;                                // guarded by mu_
  bool stopping_ = false;                              // guarded by mu_
  std::thread thread_;
};

}  // namespace coffre::hubservice
