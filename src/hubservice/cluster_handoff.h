#pragma once
// ClusterHandoff: a record sent from one hub node to another over the cluster store, of any
// size (a direct method's request or answer may be 128 KiB; a notification carries under 8000
// bytes). The sender seals the record under the hub's keys (AAD = its row) into a row of the
// receiver's inbox, "cluster-handoff/<to node>/<random id>", and notifies every node (channel
// coffre_handoff: "TO_NODE ID"); the receiver reads the row, erases it and hands the record to
// its receiver function. So PostgreSQL carries only ciphertext, and only a hub node can send
// one. Rows are written without waiting for a standby: a record lost in a failover is a call
// that times out. Each record says until when it matters (`until_ms`, wall clock): a late one
// is dropped, never acted on (a direct method must not run after its caller gave up). After a
// reconnection of its listener a node reads its inbox for records it was not told of; at start
// it erases what was left there. Sending and receiving run on a thread of its own, never the
// caller's. Thread-safe.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "crypto/envelope_writer.h"
#include "hub/hub_keys.h"
#include "hubservice/cluster_link.h"
#include "pgstore/pg_listener.h"
#include "storage/kv_store.h"

namespace coffre::hubservice {

class ClusterHandoff {
 public:
  using Receiver = std::function<void(const nlohmann::json& record)>;
  // Everything must outlive it. `receive` gets each record sent to this node, in time, on the
  // hand-off thread.
  static Result<std::unique_ptr<ClusterHandoff>> Start(const ClusterLink& link,
                                                       storage::KvStore& kv, hub::HubKeys& keys,
                                                       Receiver receive);
  ~ClusterHandoff();  // stops the thread and the listener; records not sent yet fail

  // Sends `record` to node `to`; it matters until `until_ms` (wall clock). `failed` is called
  // (on the hand-off thread) if it could not be sent.
  void Send(std::string to, nlohmann::json record, int64_t until_ms,
            std::function<void(const Status&)> failed);

  // Records received and dropped as late, so far.
  uint64_t received() const;
  uint64_t dropped_late() const;

 private:
  ClusterHandoff(const ClusterLink& link, storage::KvStore& kv, hub::HubKeys& keys,
                 Receiver receive)
      : link_(link), node_id_(link.node_id), kv_(kv), keys_(keys), receive_(std::move(receive)) {}
  struct Outgoing {
    std::string to;
    nlohmann::json record;
    int64_t until_ms = 0;
    std::function<void(const Status&)> failed;
  };
  void Run();
  Status Write(const Outgoing& out);
  void Take(const std::string& row);  // reads, erases and hands on one inbox row
  void ReadInbox();                   // every row of the inbox (after a lost notification)
  std::string Inbox() const { return "cluster-handoff/" + node_id_ + "/"; }

  const ClusterLink& link_;
  const std::string& node_id_;  // link_'s
  storage::KvStore& kv_;
  hub::HubKeys& keys_;
  const Receiver receive_;
  std::unique_ptr<pgstore::PgListener> listener_;
  std::shared_ptr<crypto::EnvelopeWriter> writer_;  // the hand-off thread's

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Outgoing> outgoing_;    // guarded by mu_
  std::deque<std::string> arrived_;  // inbox rows notified; guarded by mu_
  bool read_inbox_ = false;          // guarded by mu_
  bool stopping_ = false;            // guarded by mu_
  uint64_t received_ = 0;            // guarded by mu_
  uint64_t dropped_late_ = 0;        // guarded by mu_
  std::thread thread_;
};

}  // namespace coffre::hubservice
