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

 private:
  std::mutex mu_;
  uint64_t next_id_ = 1;
  std::map<std::string, std::vector<Holder>> holders_;
};

}  // namespace coffre::amqp
