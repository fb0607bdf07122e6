#pragma once
// `coffre status --dir DIR`: the local stack at a glance: each daemon's process, whether it is
// ready (its /readyz, and why not), where it listens, and the hub's customer key as the hub sees
// it (GET /$coffre/encryption with the owner's login from DIR/connection.json). Exit 0 when both
// daemons are running and ready, 1 otherwise.

#include <filesystem>
#include <ostream>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace coffre::cli {

// {"version", "vault": {"pid", "running", "ready", "reasons", "url"},
//  "hub": {... , "mqttPort", "httpsPort", "amqpPort", "customerKey": {...}}}
Result<nlohmann::json> StackStatus(const std::filesystem::path& dir);
// The table `coffre status` prints; `tsv`: its rows tab-separated, without header or footer.
void PrintStackStatus(const nlohmann::json& status, std::ostream& out, bool tsv = false);
// Both daemons running and ready.
bool StackReady(const nlohmann::json& status);

}  // namespace coffre::cli
