#pragma once
// ClusterSessions: one connection per device identity across the hub nodes of a cluster store,
// as DeviceConnections keeps one within a node. When a node's connection takes an identity,
// the node tells every node (NOTIFY on channel coffre_sessions: the identity's keyed digest,
// when the connection took it by the node's clock in microseconds, the node's id); a node
// holding the identity since earlier closes its connection, as Azure IoT Hub closes the older
// of a device's two connections (equal times: the lower node id's closes). The nodes' clocks
// must agree (NTP): two connections of one device on two nodes closer together than the
// clocks' skew may close the newer one, which the device's retry mends. Notifications are
// hints: on every (re)connection of its listener a node announces its connections again, so
// one lost in a failover is made up for. Identities reach PostgreSQL only as digests keyed by
// the hub's root key (HubKeys::Hmac); while the keys are locked no connection is accepted.
// The same way a C2D message queued on one node wakes the device's connection on whichever node
// holds it (channel coffre_c2d: the identity's digest), which then takes the message from the
// store; a wake-up lost leaves the message queued until the device's next receive.
// And an identity changed on one node (updated, disabled, keys replaced, deleted: what the
// registry tells its listeners) has its sessions re-checked on every node that holds a
// connection of it (channel coffre_identities: the device's digest, and the module identity's
// if a module's), so a revoked device loses its connections on every node; after a lost
// notification (a listener reconnecting) a node re-checks every connection it holds.
// Every node also keeps which other node holds each identity (the same announcements, and one
// when a connection ends: "DIGEST - NODE"), so that a direct method or a desired-property
// notification goes to that node (cluster_forwarding.h). A node that (re)connects its listener
// asks the others to announce what they hold ("? NODE"); holders on a node that no longer runs
// (its registration lock gone, read every few seconds) are forgotten.
// Thread-safe; notifications are sent from a thread of its own, never a connection's, those
// waiting together in one NOTIFY per channel (lines joined by '\n').

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/result.h"
#include "hub/device_connections.h"
#include "hub/hub_keys.h"
#include "hub/identity_listener.h"
#include "hub/registry.h"
#include "pgstore/pg_listener.h"
#include "hubservice/cluster_link.h"

namespace coffre::hubservice {

class ClusterSessions : public hub::IdentityListener {
 public:
  // Everything must outlive the sessions; Start sets itself as `connections`' observer and adds
  // itself to `registry`'s listeners.
  static Result<std::unique_ptr<ClusterSessions>> Start(const ClusterLink& link,
                                                        hub::HubKeys& keys,
                                                        hub::DeviceConnections& connections,
                                                        hub::Registry& registry);
  ~ClusterSessions() override;  // stops the thread and the listener

  // hub::IdentityListener: a change made on this node, told to the others.
  void IdentityChanged(const std::string& device_id,
                       const std::optional<std::string>& module_id) override;

  // Connections of this node closed because another node's took their identity, so far.
  uint64_t taken_over() const;

  // A C2D message for `device_id` was queued here: the node holding the device wakes it with
  // `wake` (SetC2dWaiting; this node's own connections are woken by the caller).
  void C2dQueued(const std::string& device_id);
  void SetC2dWaiting(std::function<void(const std::string& device_id)> wake);

  // The other node holding identity `key` ("device" or "device/module") as last announced, if
  // one that runs does.
  std::optional<std::string> HolderOf(const std::string& key) const;
  // Told, with the identity's digest (Digest), when another node announces it took one.
  void SetTakenElsewhere(std::function<void(const std::string& digest)> taken);
  // Told how many nodes run (this one included) after each reading of them (every few seconds),
  // on the sessions' thread.
  void SetLiveNodesCounted(std::function<void(size_t nodes)> counted);
  // The identity's keyed digest, as the nodes announce it (keys locked: an error).
  Result<std::string> Digest(const std::string& key) const;
  const std::string& node_id() const { return link_.node_id; }

  // Lines joined by '\n' into as few NOTIFY payloads as fit PostgreSQL's limit (under 8000
  // bytes each; a line is never split), in order.
  static std::vector<std::string> Pack(const std::vector<std::string>& lines);

 private:
  ClusterSessions(const ClusterLink& link, hub::HubKeys& keys,
                  hub::DeviceConnections& connections, hub::Registry& registry)
      : link_(link), node_id_(link.node_id), keys_(keys), connections_(connections),
        registry_(registry) {}
  void Taken(const std::string& key, uint64_t token);
  void Released(const std::string& key, uint64_t token);
  void Notified(const pgstore::PgNotification& n);
  void NotifiedLine(std::string_view channel, std::string_view line);
  void Resync();
  void Run();
  void Send(std::string channel, std::string payload);  // queued for the worker
  // An announcement of another node: its connection took the identity, or ended.
  void HeldElsewhere(const std::string& digest, std::string_view node, int64_t since_us);
  void EndedElsewhere(const std::string& digest, std::string_view node);
  // Reads which nodes run, and forgets the holders on the others (worker thread).
  void RefreshLiveNodes();

  // Tells this node's other listeners that the identities of `line` (a coffre_identities
  // line) changed, for those it holds.
  void IdentityChangedElsewhere(std::string_view line);
  // Every device this node holds a connection of, re-checked (after a lost notification).
  void RecheckAll();

  struct Held {
    std::string digest;
    std::string device_digest;  // of the device id alone (a module's connection's device)
    uint64_t token = 0;
    int64_t since_us = 0;  // when the connection took the identity, by this node's clock
  };
  const ClusterLink& link_;
  const std::string& node_id_;  // link_'s
  hub::HubKeys& keys_;
  hub::DeviceConnections& connections_;
  hub::Registry& registry_;
  std::unique_ptr<pgstore::PgListener> listener_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;
  std::map<std::string, Held> held_;                 // by identity key; guarded by mu_
  std::map<std::string, std::string> by_digest_;     // digest -> identity key; guarded by mu_
  // A device's digest -> the keys held of it (the device's and its modules'); guarded by mu_.
  std::map<std::string, std::set<std::string>> by_device_digest_;
  std::deque<std::pair<std::string, std::string>> to_send_;  // (channel, payload); guarded by mu_
  struct Holder {
    std::string node;
    int64_t since_us = 0;
  };
  std::map<std::string, Holder> elsewhere_;  // digest -> the other node holding it; guarded by mu_
  // Nodes known to run, with when that was last confirmed; guarded by mu_.
  std::map<std::string, std::chrono::steady_clock::time_point> live_;
  std::function<void(const std::string& digest)> taken_elsewhere_;  // guarded by mu_
  std::function<void(size_t nodes)> live_nodes_counted_;             // guarded by mu_
  std::chrono::steady_clock::time_point next_refresh_;  // of live_; guarded by mu_
  bool resync_ = false;                              // guarded by mu_
  bool announce_all_ = false;                        // another node asked; guarded by mu_
  bool stopping_ = false;                            // guarded by mu_
  uint64_t taken_over_ = 0;                          // guarded by mu_
  std::function<void(const std::string& device_id)> c2d_waiting_;  // guarded by mu_
  std::thread worker_;
};

}  // namespace coffre::hubservice
