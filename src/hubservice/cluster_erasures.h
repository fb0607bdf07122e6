#pragma once
// ClusterErasures: a device's erasure on one hub node reaches every node's memory (cluster
// mode). The erasing node destroys the device's key in the store and its own copies
// (DeviceKeys::Erase), then notifies every node (NOTIFY on channel coffre_erasures: the key's
// number, nothing else); each forgets every copy of that key it holds (its reader's, its
// writers' and the remembered one), so its read API and Event Hubs endpoint serve the device's
// records as erased from then on: the key can no longer be loaded from the store. On every
// (re)connection of its listener a node forgets the key of every erasure recorded, so a
// notification lost in a failover is made up for. Thread-safe.

#include <memory>
#include <string>

#include "common/result.h"
#include "hub/device_keys.h"
#include "hub/hub_keys.h"
#include "hubservice/cluster_link.h"
#include "pgstore/pg_listener.h"

namespace coffre::hubservice {

class ClusterErasures {
 public:
  // Everything must outlive it; Start sets itself as `device_keys`' erased listener.
  static Result<std::unique_ptr<ClusterErasures>> Start(const ClusterLink& link,
                                                        hub::HubKeys& keys,
                                                        hub::DeviceKeys& device_keys);
  ~ClusterErasures();  // stops the listener

 private:
  ClusterErasures(hub::HubKeys& keys, hub::DeviceKeys& device_keys)
      : keys_(keys), device_keys_(device_keys) {}

  hub::HubKeys& keys_;
  hub::DeviceKeys& device_keys_;
  std::unique_ptr<pgstore::PgListener> listener_;
};

}  // namespace coffre::hubservice
