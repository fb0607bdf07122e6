#pragma once
// The local stack (docs/ARCHITECTURE.md, "Processes"): `coffre up --dir DIR` prepares DIR (mode
// 0700), its TLS files (a CA and a server certificate for localhost, reused on the next start),
// the ports (recorded in DIR/stack.json and reused), starts what is built, and writes
// DIR/connection.json. `coffre down --dir DIR` stops the recorded processes by pid.
// For development and tests: DIR holds every secret of the stack. With --cluster, the stack
// also runs cluster mode's replicated PostgreSQL store (stack_cluster_store.h,
// docs/CLUSTER.md), recorded in both files' "cluster" object; a DIR started so stays so.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "cli/stack_cluster_state.h"
#include "common/result.h"

namespace coffre::cli {

struct StackPorts {
  uint16_t vault = 8443;
  uint16_t mqtt = 8883;
  uint16_t https = 443;
  uint16_t amqp = 5671;
};

// The stack's vault seals its master key by a key on this PKCS#11 token instead of the
// generated passphrase when token_label is set (coffre-vault's --pkcs11-* options). Recorded in
// DIR/stack.json (the PIN file's path, never the PIN), so a restart needs no options.
struct StackPkcs11 {
  std::string module;  // empty: coffre-vault's default (Debian's SoftHSM2)
  std::string token_label;
  std::string key_label;  // empty: coffre-vault's default
  std::string pin_file;
  bool enabled() const { return !token_label.empty(); }
};

struct UpOptions {
  std::filesystem::path dir;
  uint16_t ports_from = 0;  // 0: the defaults of StackPorts (those the Azure SDKs hard-code)
  std::string hub_host = "localhost";
  bool start_vault = true;  // false: certificates, ports and connection.json only (unit tests)
  StackPkcs11 pkcs11 = {};  // not enabled: what DIR/stack.json recorded, else the passphrase
  std::vector<std::string> hub_args = {};  // extra coffre-hub flags for this start (not recorded)
  int key_size = 3072;  // bits of the customer key's RSA modulus, when this start creates it
  // How long coffre-hub may take to serve (a restore before it takes longer).
  std::chrono::seconds hub_start_timeout{60};
  bool cluster = false;  // also the replicated PostgreSQL store (kept once DIR has one)
  ClusterNodes cluster_nodes = {};  // where its nodes run, when a new cluster is made
};

// A cluster stack's further hub nodes (node 0 is the stack's own hub, on StackPorts): their
// ports, and DIR/hub-N their directory.
struct HubNodePorts {
  uint16_t mqtt = 0;
  uint16_t https = 0;
  uint16_t amqp = 0;
};

// How many hub nodes `coffre up --cluster` runs over its store.
inline constexpr size_t kClusterHubNodes = 2;

struct StackState {
  std::filesystem::path dir;
  std::filesystem::path ca_file;
  std::string hub_host;
  StackPorts ports;
  std::map<std::string, int> pids;  // running components: "vault", "hub"
  StackPkcs11 pkcs11;
  std::vector<std::string> hub_args = {};  // extra coffre-hub flags for this start (not recorded)
  int key_size = 3072;                     // the customer key's, if EnsureVault creates it
  std::chrono::seconds hub_start_timeout{60};
  std::string vault_url;
  std::string vault_token;  // the key owner's token
  std::string key_name;
  std::string hub_principal;
  std::string device_id;  // the demo device
  std::string device_connection_string;
  std::string service_connection_string;  // iothubowner
  // The Event Hubs-compatible endpoint: Endpoint=sb://HOST:PORT/;...;EntityPath=NAME (the
  // "service" policy), and the name.
  std::string eventhub_connection_string;
  std::string eventhub_name;
  StackCluster cluster;  // not enabled: a single-node stack
  // Cluster mode: hub nodes 1, 2, ... (their pids: "hub-1", ...), beside the hub ("hub").
  std::vector<HubNodePorts> more_hub_nodes;
};

Result<StackState> StackUp(const UpOptions& options);

// The recorded state of the stack in `dir` (DIR/stack.json); NOT_FOUND if there is none.
Result<StackState> ReadStackFile(const std::filesystem::path& dir);
Status WriteStackFile(const StackState& state);

// Stops every recorded process (SIGTERM, then SIGKILL after `grace`), and clears the pids.
Status StackDown(const std::filesystem::path& dir, int grace_ms = 10000);

// DIR/connection.json as the README and docs/ARCHITECTURE.md describe it, with the fields of what exists.
std::string ConnectionJson(const StackState& state);

// Free TCP ports on 127.0.0.1 from `from` upward.
Result<StackPorts> PickFreePorts(uint16_t from);
Result<std::vector<uint16_t>> PickFreePortList(uint16_t from, size_t count);

}  // namespace coffre::cli
