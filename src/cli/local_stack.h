#pragma once
// The local stack (DESIGN.md, "The local stack"): `coffre up --dir DIR` prepares DIR (mode
// 0700), its TLS files (a CA and a server certificate for localhost, reused on the next start),
// the ports (recorded in DIR/stack.json and reused), starts what is built, and writes
// DIR/connection.json. `coffre down --dir DIR` stops the recorded processes by pid.
// For development and tests: DIR holds every secret of the stack.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "common/result.h"

namespace coffre::cli {

struct StackPorts {
  uint16_t vault = 8443;
  uint16_t mqtt = 8883;
  uint16_t https = 443;
};

struct UpOptions {
  std::filesystem::path dir;
  uint16_t ports_from = 0;  // 0: the defaults of StackPorts (those the Azure SDKs hard-code)
  std::string hub_host = "localhost";
  bool start_vault = true;  // false: certificates, ports and connection.json only (unit tests)
};

struct StackState {
  std::filesystem::path dir;
  std::filesystem::path ca_file;
  std::string hub_host;
  StackPorts ports;
  std::map<std::string, int> pids;  // running components: "vault", "hub"
  std::string vault_url;
  std::string vault_token;  // the key owner's token
  std::string key_name;
  std::string hub_principal;
  std::string device_id;  // the demo device
  std::string device_connection_string;
  std::string service_connection_string;  // iothubowner
};

Result<StackState> StackUp(const UpOptions& options);

// Stops every recorded process (SIGTERM, then SIGKILL after `grace`), and clears the pids.
Status StackDown(const std::filesystem::path& dir, int grace_ms = 10000);

// DIR/connection.json as DESIGN.md specifies it, with the fields of what exists.
std::string ConnectionJson(const StackState& state);

// Free TCP ports on 127.0.0.1 from `from` upward.
Result<StackPorts> PickFreePorts(uint16_t from);

}  // namespace coffre::cli
