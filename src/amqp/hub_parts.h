#pragma once
// HubParts: the hub's parts the AMQP nodes use, by reference (they outlive the server), plus the
// names the endpoint answers to. A node takes what it needs from here; a new kind of node adds
// its part as one more field.

#include <cstdint>
#include <string>
#include <vector>

#include "common/clock.h"

namespace coffre {
class WorkQueue;
}

namespace coffre::hub {
class AccessPolicies;
class C2dQueues;
class DeviceConnections;
class DeviceFeatures;
class HubMetrics;
class Quotas;
class ConsumerGroups;
class DeviceAuthenticator;
class Registry;
class TelemetryIngest;
class TelemetryStore;
}  // namespace coffre::hub

namespace coffre::amqp {

class TokenVerifier;
class EventHubReceivers;
class EpochsElsewhere;
class DeviceLinks;

struct HubParts {
  hub::AccessPolicies& policies;
  hub::DeviceAuthenticator& devices;
  hub::Registry& registry;
  hub::TelemetryStore& store;
  hub::ConsumerGroups& groups;
  hub::TelemetryIngest& ingest;
  const Clock& clock;
  // The names the hub answers to (token audiences); the first one is its host name, which the
  // redirect names.
  std::vector<std::string> host_names;
  // The hub's name (the Event Hubs entity) and when it was created.
  std::string hub_name;
  int64_t created_ms = 0;
  // The service client's C2D and the device links (nullptr: those nodes refuse their links).
  hub::C2dQueues* c2d = nullptr;
  hub::DeviceFeatures* features = nullptr;
  hub::Quotas* quotas = nullptr;  // nullable: no device-to-cloud quota
  // One connection per identity across protocols (nullable: not enforced).
  hub::DeviceConnections* connections = nullptr;
  // Traffic and connections, as protocols amqp and amqp-ws (nullable: not counted).
  hub::HubMetrics* metrics = nullptr;
  // Cluster mode: the Event Hubs epoch receivers of the other hub nodes (nullable: one node).
  EpochsElsewhere* epochs_elsewhere = nullptr;
  // Filled in by AmqpServer: the AMQPS port it listens on, its token verifier and the Event Hubs
  // receivers of every connection (epochs, per-partition counts).
  uint16_t amqp_port = 0;
  const TokenVerifier* tokens = nullptr;
  EventHubReceivers* receivers = nullptr;
  // The device links of every connection, by identity (wake-ups, methods, desired patches), and
  // a queue for the nodes' blocking work (C2D sends, feedback reads).
  DeviceLinks* device_links = nullptr;
  WorkQueue* work = nullptr;
};

}  // namespace coffre::amqp
