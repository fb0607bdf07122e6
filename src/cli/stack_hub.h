#pragma once
// The hub part of the local stack: starts coffre-hub for DIR (unless it runs already) with the
// customer key in the stack's vault and the hub principal's token, waits until it answers, and
// records the demo device's connection string.
//   DIR/hub/service.key   the service key (infrastructure layer), made by the hub on first start
//   DIR/hub/data/         registry, metadata and telemetry (all encrypted twice)
//   DIR/hub/hub.log       its log
// and DIR/hub/key-events-secret (stack_key_events.h) for the vault's key events.
// A cluster stack runs further hub nodes in DIR/hub-1, ... on ports of their own (EnsureMoreHubNodes).
// When the MQTT port is not 8883 (the port the Azure SDKs assume), the device connection string
// carries GatewayHostName=localhost:<port>, which the SDKs' MQTT transports connect to.

#include "cli/local_stack.h"

namespace coffre::cli {

inline constexpr const char* kDemoDevice = "demo-device";

Status EnsureHub(StackState& state);
// Cluster mode: hub nodes 1 .. kClusterHubNodes - 1 over the same store (DIR/hub-N: its data
// and log), each on ports of its own picked once and recorded; started if not running, after
// EnsureHub (they share its service key, vault token and key-events secret).
Status EnsureMoreHubNodes(StackState& state);

}  // namespace coffre::cli
