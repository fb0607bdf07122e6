#pragma once
// The Event Hubs-compatible endpoint, as @azure/event-hubs reads IoT Hub telemetry:
// - `$management` READ of com.microsoft:eventhub and com.microsoft:partition;
// - partition receivers on "{hub}/ConsumerGroups/{group}/Partitions/{id}" (group names compare
//   case-insensitively, as the read API's), started by their selector filter (amqp/selector.h),
//   fed only as far as the client's credit goes, tailing new telemetry without a thread;
//   epoch receivers (com.microsoft:epoch) steal the partition from lower ones
//   (amqp:link:stolen), and at most 5 receivers without an epoch per group and partition;
// - senders to the entity are refused (amqp:not-allowed): the built-in endpoint is read-only;
// - a receiver on "messages/events..." (the IoT Hub connection string) is answered with
//   amqp:link:redirect to this endpoint, in a later write than its attach, as Azure does.
// Event format: telemetry as IoT Hub emits it (x-opt-* and iothub-* annotations, message and
// correlation ids, content type and encoding, application properties, a Data body).

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <proton/message.hpp>

#include "amqp/hub_parts.h"
#include "amqp/link_node.h"
#include "amqp/router.h"
#include "hub/telemetry_store.h"

namespace coffre::amqp {

void AddEventHubNodes(Router& router, const HubParts& parts);

// The AMQP message of a stored telemetry message.
proton::message EventMessage(const hub::StoredMessage& stored);

// Cluster mode: the epoch receivers of the other hub nodes sharing the store
// (hubservice/cluster_receivers.h). Keys as EventHubReceivers' ("group/partition", the group
// lower-cased). Called on connection threads, outside EventHubReceivers' lock.
class EpochsElsewhere {
 public:
  virtual ~EpochsElsewhere() = default;
  // An epoch receiver joins here: the higher epoch a receiver on another node holds (it is
  // refused), or nullopt: the key is this node's at `epoch` now, and the other nodes'
  // receivers of it with a lower or equal epoch, or none, are told to go. An error (the store
  // unreachable) refuses the receiver.
  virtual Result<std::optional<int64_t>> Claim(const std::string& key, int64_t epoch) = 0;
  // A receiver without an epoch joins here: the epoch a receiver on another node holds, if any.
  virtual Result<std::optional<int64_t>> HeldElsewhere(const std::string& key) = 0;
  // This node's last epoch receiver of `key` left.
  virtual void Released(const std::string& key) = 0;
};

// Every partition receiver of the server, per (group lower-cased, partition): who holds which
// epoch. Thread-safe; a receiver is told it lost the partition through its `steal` callback
// (which must post to its own connection).
class EventHubReceivers {
 public:
  static constexpr size_t kMaxWithoutEpoch = 5;
  struct Holder {
    uint64_t id;
    std::optional<int64_t> epoch;
    std::function<void()> steal;
  };
  // Registers a receiver, or says why not (amqp:link:stolen, amqp:resource-limit-exceeded).
  // Receivers it displaces are told (outside the lock).
  std::optional<LinkError> Join(const std::string& key, uint64_t id, std::optional<int64_t> epoch,
                                std::function<void()> steal);
  void Leave(const std::string& key, uint64_t id);
  uint64_t NextId();

  // Cluster mode: set once, before the first Join; must outlive the receivers' use of it.
  void SetEpochsElsewhere(EpochsElsewhere* elsewhere) { elsewhere_ = elsewhere; }
  // Another node's receiver took `key` at `epoch`: this node's receivers of it with a lower or
  // equal epoch, or none, are told to go.
  void TakenElsewhere(const std::string& key, int64_t epoch);

 private:
  // The refusal of a receiver by what another node holds (cluster mode), or nullopt.
  std::optional<LinkError> CheckElsewhere(const std::string& key, std::optional<int64_t> epoch);

  EpochsElsewhere* elsewhere_ = nullptr;
  std::mutex mu_;
  uint64_t next_id_ = 1;
  std::map<std::string, std::vector<Holder>> holders_;
};

}  // namespace coffre::amqp
