#include "cli/local_stack.h"

#include <arpa/inet.h>
#include <csignal>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/daemon.h"
#include "cli/stack_cluster_store.h"
#include "cli/stack_hub.h"
#include "cli/stack_key_events.h"
#include "cli/stack_vault.h"
#include "common/files.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "net/certificates.h"

namespace coffre::cli {
namespace {

using nlohmann::json;

bool PortIsFree(uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return false;
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

}  // namespace

Result<std::vector<uint16_t>> PickFreePortList(uint16_t from, size_t count) {
  std::vector<uint16_t> ports;
  uint32_t next = from;
  while (ports.size() < count) {
    while (next <= 65535 && !PortIsFree(static_cast<uint16_t>(next))) ++next;
    if (next > 65535) return ResourceExhausted("no free port from " + std::to_string(from));
    ports.push_back(static_cast<uint16_t>(next++));
  }
  return ports;
}

Result<StackPorts> PickFreePorts(uint16_t from) {
  COFFRE_ASSIGN_OR_RETURN(std::vector<uint16_t> free, PickFreePortList(from, 4));
  return StackPorts{free[0], free[1], free[2], free[3]};
}

std::string ConnectionJson(const StackState& s) {
  json j = {{"ca_file", s.ca_file.string()}, {"hub_host", s.hub_host}, {"pids", s.pids}};
  if (!s.vault_url.empty()) {
    j["vault_url"] = s.vault_url;
    j["vault_token"] = s.vault_token;
    j["key_name"] = s.key_name;
    j["hub_principal"] = s.hub_principal;
  }
  if (!s.device_id.empty()) {
    j["mqtt_port"] = s.ports.mqtt;
    j["https_port"] = s.ports.https;
    j["service_connection_string"] = s.service_connection_string;
    j["device_id"] = s.device_id;
    j["device_connection_string"] = s.device_connection_string;
    j["amqp_port"] = s.ports.amqp;
    if (!s.eventhub_connection_string.empty()) {
      j["eventhub_connection_string"] = s.eventhub_connection_string;
      j["eventhub_name"] = s.eventhub_name;
    }
  }
  if (s.cluster.enabled) {
    j["cluster"] = ClusterRecord(s.cluster);
    // Every hub node, node 0 (the top-level ports') first.
    auto pid_of = [&](const std::string& name) {
      auto it = s.pids.find(name);
      return it == s.pids.end() ? 0 : it->second;
    };
    json nodes = json::array();
    if (!s.device_id.empty()) {
      nodes.push_back({{"mqtt_port", s.ports.mqtt}, {"https_port", s.ports.https},
                       {"amqp_port", s.ports.amqp}, {"pid", pid_of("hub")}});
    }
    for (size_t i = 0; i < s.more_hub_nodes.size(); ++i) {
      const HubNodePorts& n = s.more_hub_nodes[i];
      nodes.push_back({{"mqtt_port", n.mqtt}, {"https_port", n.https}, {"amqp_port", n.amqp},
                       {"pid", pid_of("hub-" + std::to_string(i + 1))}});
    }
    j["hub_nodes"] = nodes;
  }
  return j.dump(2) + "\n";
}

Result<StackState> ReadStackFile(const std::filesystem::path& dir) {
  COFFRE_ASSIGN_OR_RETURN(std::string text, ReadTextFile(dir / "stack.json"));
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("ports")) {
    return DataLoss((dir / "stack.json").string() + " is not a stack record");
  }
  StackState s;
  s.dir = dir;
  s.hub_host = j.value("hub_host", "localhost");
  const json& p = j["ports"];
  s.ports.vault = p.value("vault", uint16_t{8443});
  s.ports.mqtt = p.value("mqtt", uint16_t{8883});
  s.ports.https = p.value("https", uint16_t{443});
  s.ports.amqp = p.value("amqp", uint16_t{5671});
  if (j.contains("pkcs11") && j["pkcs11"].is_object()) {
    const json& k = j["pkcs11"];
    s.pkcs11 = {k.value("module", ""), k.value("token_label", ""), k.value("key_label", ""),
                k.value("pin_file", "")};
  }
  if (j.contains("pids") && j["pids"].is_object()) {
    for (auto& [name, pid] : j["pids"].items()) {
      if (pid.is_number_integer()) s.pids[name] = pid.get<int>();
    }
  }
  if (j.contains("cluster")) s.cluster = ReadClusterRecord(j["cluster"]);
  if (j.contains("hub_nodes") && j["hub_nodes"].is_array()) {
    for (const json& n : j["hub_nodes"]) {
      if (!n.is_object()) continue;
      s.more_hub_nodes.push_back({n.value("mqtt", uint16_t{0}), n.value("https", uint16_t{0}),
                                  n.value("amqp", uint16_t{0})});
    }
  }
  return s;
}

Status WriteStackFile(const StackState& s) {
  json j = {{"hub_host", s.hub_host},
            {"ports", {{"vault", s.ports.vault}, {"mqtt", s.ports.mqtt}, {"https", s.ports.https},
                       {"amqp", s.ports.amqp}}},
            {"pids", s.pids}};
  if (s.pkcs11.enabled()) {
    j["pkcs11"] = {{"module", s.pkcs11.module},
                   {"token_label", s.pkcs11.token_label},
                   {"key_label", s.pkcs11.key_label},
                   {"pin_file", s.pkcs11.pin_file}};
  }
  if (s.cluster.enabled) j["cluster"] = ClusterRecord(s.cluster);
  if (!s.more_hub_nodes.empty()) {
    json nodes = json::array();
    for (const HubNodePorts& n : s.more_hub_nodes) {
      nodes.push_back({{"mqtt", n.mqtt}, {"https", n.https}, {"amqp", n.amqp}});
    }
    j["hub_nodes"] = nodes;
  }
  std::string text = j.dump(2) + "\n";
  return WriteFileDurably(s.dir / "stack.json", AsBytes(text), 0600);
}

namespace {

// How long a start may take to get the cluster store a leader and a synchronous standby: the
// first start runs initdb and two base backups.
constexpr auto kClusterStartTimeout = std::chrono::seconds(90);

// Where the cluster store's ports are picked from: after the stack's own when those were
// picked, else kClusterPortsFrom.
uint16_t ClusterPortsFrom(const UpOptions& options, const StackPorts& ports) {
  if (options.ports_from == 0) return kClusterPortsFrom;
  uint32_t last = std::max({ports.vault, ports.mqtt, ports.https, ports.amqp});
  return static_cast<uint16_t>(std::min<uint32_t>(last + 1, 65535));
}

// One start; `fresh`: the directory held no stack before (its ports were picked now).
Result<StackState> StartStack(const UpOptions& options, const std::filesystem::path& dir,
                              bool& fresh) {
  StackState state;
  Result<StackState> recorded = ReadStackFile(dir);
  fresh = !recorded.has_value() && recorded.error().code() == StatusCode::kNotFound;
  if (recorded.has_value()) {
    state = std::move(*recorded);  // a restart keeps its ports
  } else if (fresh) {
    state.dir = dir;
    state.hub_host = options.hub_host;
    if (options.ports_from != 0) {
      COFFRE_ASSIGN_OR_RETURN(state.ports, PickFreePorts(options.ports_from));
    }
  } else {
    return recorded.error();
  }
  state.hub_args = options.hub_args;
  state.key_size = options.key_size;
  state.hub_start_timeout = options.hub_start_timeout;
  const StackPkcs11 recorded_pkcs11 = state.pkcs11;
  if (options.pkcs11.enabled()) {
    state.pkcs11 = options.pkcs11;
    // Absolute: a later `coffre up` may run from another working directory.
    state.pkcs11.pin_file = std::filesystem::absolute(options.pkcs11.pin_file).string();
  }
  // Forget processes that are gone (a crash, a reboot).
  for (auto it = state.pids.begin(); it != state.pids.end();) {
    it = ProcessAlive(it->second) ? std::next(it) : state.pids.erase(it);
  }

  net::ServerIdentity identity;
  if (state.hub_host != "localhost") identity.dns_names.push_back(state.hub_host);
  COFFRE_ASSIGN_OR_RETURN(net::StackCertificates certs,
                          net::EnsureStackCertificates(dir / "tls", identity));
  state.ca_file = certs.ca_file;

  if (options.cluster) state.cluster.enabled = true;

  if (options.start_vault) {
    // The store first: the hub will keep its data there.
    Status started = Status::Ok();
    if (state.cluster.enabled) {
      started = EnsureClusterStore(dir, state.cluster, ClusterPortsFrom(options, state.ports),
                                   kClusterStartTimeout, options.cluster_nodes);
    }
    if (started.ok()) started = EnsureVault(state);
    // Options the vault refused (another method, a wrong token) are not kept for next time.
    if (!started.ok()) state.pkcs11 = recorded_pkcs11;
    if (started.ok()) started = EnsureKeyEvents(state);
    if (started.ok()) started = EnsureHub(state);
    if (started.ok() && state.cluster.enabled) started = EnsureMoreHubNodes(state);
    // Record what was started even on failure, so `coffre down` can stop it.
    COFFRE_RETURN_IF_ERROR(WriteStackFile(state));
    COFFRE_RETURN_IF_ERROR(started);
  }
  COFFRE_RETURN_IF_ERROR(WriteStackFile(state));
  std::string connection = ConnectionJson(state);
  COFFRE_RETURN_IF_ERROR(WriteFileDurably(dir / "connection.json", AsBytes(connection), 0600));
  return state;
}

std::set<std::filesystem::path> Entries(const std::filesystem::path& dir) {
  std::set<std::filesystem::path> entries;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) entries.insert(e.path());
  return entries;
}

}  // namespace

// A new stack's ports are picked free, then bound by daemons that start a moment later; another
// process can take one meanwhile (tests running side by side do). Such a start is stopped, what
// it created in the directory removed (nothing that was there before), and the ports picked
// again: three attempts in all.
Result<StackState> StackUp(const UpOptions& options) {
  if (options.dir.empty()) return InvalidArgument("--dir is required");
  std::filesystem::path dir = std::filesystem::absolute(options.dir);
  // A cluster's DIR stays crossable by PostgreSQL's user across starts (stack_cluster_store.h).
  COFFRE_RETURN_IF_ERROR(EnsurePrivateDirectory(
      dir, StackDirMode(options.cluster || std::filesystem::exists(ClusterDir(dir)))));
  const std::set<std::filesystem::path> before = Entries(dir);
  for (int attempt = 1;; ++attempt) {
    bool fresh = false;
    Result<StackState> up = StartStack(options, dir, fresh);
    if (up.has_value() || !fresh || options.ports_from == 0 || attempt == 3 ||
        up.error().message().find("Address already in use") == std::string::npos) {
      return up;
    }
    LogLine("up", "a picked port was taken before its daemon bound it (" + up.error().message() +
                      "): stopping this start and picking the ports again");
    (void)StackDown(dir, /*grace_ms=*/2000);
    for (const std::filesystem::path& created : Entries(dir)) {
      std::error_code ignored;
      if (!before.contains(created)) std::filesystem::remove_all(created, ignored);
    }
  }
}

Status StackDown(const std::filesystem::path& dir, int grace_ms) {
  COFFRE_ASSIGN_OR_RETURN(StackState state, ReadStackFile(std::filesystem::absolute(dir)));
  std::vector<int> pids;
  for (const auto& [name, pid] : state.pids) pids.push_back(pid);
  StopProcesses(pids, std::chrono::milliseconds(grace_ms));
  state.pids.clear();
  // The store after the hub and vault, which may be its clients.
  if (state.cluster.enabled) {
    StopClusterStore(state.dir, state.cluster, std::chrono::milliseconds(grace_ms));
  }
  COFFRE_RETURN_IF_ERROR(WriteStackFile(state));
  std::string connection = ConnectionJson(state);
  return WriteFileDurably(state.dir / "connection.json", AsBytes(connection), 0600);
}

}  // namespace coffre::cli
