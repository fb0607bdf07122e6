#pragma once
// The local stack's connection strings, written by the hub at start (files of mode 0600 in a
// directory of mode 0700): iothubowner's for the tools, and one per bootstrap device.

#include <cstdint>
#include <filesystem>
#include <string>

#include "common/status.h"
#include "hub/access_policies.h"
#include "hub/registry.h"

namespace coffre::hubservice {

// DIR/iothubowner.connection-string.
Status WriteOwnerConnectionString(hub::AccessPolicies& policies, const std::string& host,
                                  const std::filesystem::path& dir);

// DIR/eventhub.connection-string: Endpoint=sb://HOST:PORT/;SharedAccessKeyName=service;
// SharedAccessKey=...;EntityPath=HUB (the "service" policy, which has ServiceConnect).
Status WriteEventHubConnectionString(hub::AccessPolicies& policies, const std::string& host,
                                     uint16_t amqp_port, const std::string& hub_name,
                                     const std::filesystem::path& dir);

// Creates the device if missing and writes DIR/ID.connection-string.
Status BootstrapDevice(hub::Registry& registry, const std::string& id, const std::string& host,
                       const std::filesystem::path& dir);

}  // namespace coffre::hubservice
