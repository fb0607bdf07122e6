#include "cli/stack_hub.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>

#include "cli/daemon.h"
#include "cli/stack_cluster_store.h"
#include "cli/stack_vault.h"
#include "common/files.h"
#include "common/strings.h"
#include "common/unique_fd.h"
#include "config/settings_file.h"

namespace coffre::cli {
namespace {

bool PortAccepts(uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return fd && ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

// Starts coffre-hub in `node_dir` (its data in node_dir/data) on `ports`, with the stack's
// key, vault token, key-events secret and service key (all hub nodes share them: they are in
// DIR/hub), and the cluster store when the stack has one; `extra`: flags of this node alone.
Result<int> StartHubNode(const StackState& state, const std::filesystem::path& node_dir,
                         const HubNodePorts& ports, const std::vector<std::string>& extra) {
  const std::filesystem::path shared = state.dir / "hub";
  std::vector<std::string> args = {
      "--dir", (node_dir / "data").string(),
      "--mqtt-listen", "127.0.0.1:" + std::to_string(ports.mqtt),
      "--https-listen", "127.0.0.1:" + std::to_string(ports.https),
      "--amqp-listen", "127.0.0.1:" + std::to_string(ports.amqp),
      "--tls-cert", (state.dir / "tls" / "server.pem").string(),
      "--tls-key", (state.dir / "tls" / "server-key.pem").string(),
      "--host-name", state.hub_host,
      "--vault-key-uri", state.vault_url + "/keys/" + state.key_name,
      "--vault-token-file", (shared / "vault-token").string(),
      "--vault-ca-file", state.ca_file.string(),
      "--key-events-secret-file", (shared / "key-events-secret").string(),
      "--service-key-file", (shared / "service.key").string()};
  args.insert(args.end(), extra.begin(), extra.end());
  // Cluster mode's store, when the stack has one: ClusterHubArgs is the one place.
  std::vector<std::string> store = ClusterHubArgs(state.cluster);
  args.insert(args.end(), store.begin(), store.end());
  // The settings go to the hub's configuration file; --hub-arg flags override it.
  std::filesystem::path config_file = node_dir / "hub.toml";
  COFFRE_RETURN_IF_ERROR(config::WriteSettingsFile(config_file, StackConfigHeader("coffre-hub"), args));
  std::vector<std::string> command = {"--config", config_file.string()};
  command.insert(command.end(), state.hub_args.begin(), state.hub_args.end());
  return SpawnDaemon(OwnBinaryDir() / "coffre-hub", command, node_dir / "hub.log");
}

bool Running(const StackState& state, const std::string& name) {
  auto it = state.pids.find(name);
  return it != state.pids.end() && ProcessAlive(it->second);
}

// Where further hub nodes' ports are picked from: after every port the stack has.
uint16_t MoreHubPortsFrom(const StackState& state) {
  uint32_t last = std::max({state.ports.vault, state.ports.mqtt, state.ports.https, state.ports.amqp});
  for (const EtcdMember& m : state.cluster.etcd) last = std::max<uint32_t>({last, m.port, m.peer_port});
  for (const PostgresMember& m : state.cluster.postgres) {
    last = std::max<uint32_t>({last, m.port, m.patroni_port});
  }
  return static_cast<uint16_t>(std::min<uint32_t>(last + 1, 65535));
}

}  // namespace

Status EnsureMoreHubNodes(StackState& state) {
  while (state.more_hub_nodes.size() + 1 < kClusterHubNodes) {
    COFFRE_ASSIGN_OR_RETURN(std::vector<uint16_t> free,
                            PickFreePortList(MoreHubPortsFrom(state), 3));
    state.more_hub_nodes.push_back({free[0], free[1], free[2]});
  }
  for (size_t i = 0; i < state.more_hub_nodes.size(); ++i) {
    const std::string name = "hub-" + std::to_string(i + 1);
    if (Running(state, name)) continue;
    const std::filesystem::path node_dir = state.dir / name;
    COFFRE_RETURN_IF_ERROR(EnsurePrivateDirectory(node_dir));
    const HubNodePorts ports = state.more_hub_nodes[i];
    COFFRE_ASSIGN_OR_RETURN(int pid, StartHubNode(state, node_dir, ports, {}));
    state.pids[name] = pid;
    auto ready = [&]() -> Status {
      for (uint16_t port : {ports.mqtt, ports.https, ports.amqp}) {
        if (!PortAccepts(port)) return Unavailable("port " + std::to_string(port) + " not open yet");
      }
      return Status::Ok();
    };
    COFFRE_RETURN_IF_ERROR(WaitUntilReady(pid, node_dir / "hub.log", ready, state.hub_start_timeout)
                               .WithContext("starting hub node " + std::to_string(i + 1)));
  }
  return Status::Ok();
}

Status EnsureHub(StackState& state) {
  std::filesystem::path hub_dir = state.dir / "hub";
  COFFRE_RETURN_IF_ERROR(EnsurePrivateDirectory(hub_dir));
  std::filesystem::path connection_file = hub_dir / "data" / "bootstrap" /
                                          (std::string(kDemoDevice) + ".connection-string");
  if (!Running(state, "hub")) {
    COFFRE_ASSIGN_OR_RETURN(
        int pid, StartHubNode(state, hub_dir, {state.ports.mqtt, state.ports.https, state.ports.amqp},
                              {"--bootstrap-device", kDemoDevice}));
    state.pids["hub"] = pid;
    auto ready = [&]() -> Status {
      if (!std::filesystem::exists(connection_file)) return Unavailable("no device yet");
      // Written once the AMQP port listens, after the MQTT one.
      if (!std::filesystem::exists(connection_file.parent_path() / "eventhub.connection-string")) {
        return Unavailable("no Event Hubs-compatible endpoint yet");
      }
      return PortAccepts(state.ports.mqtt) ? Status::Ok() : Unavailable("MQTT port not open yet");
    };
    COFFRE_RETURN_IF_ERROR(
        WaitUntilReady(pid, hub_dir / "hub.log", ready, state.hub_start_timeout).WithContext("starting coffre-hub"));
  }
  COFFRE_ASSIGN_OR_RETURN(std::string connection, ReadTextFile(connection_file));
  COFFRE_ASSIGN_OR_RETURN(std::string owner, ReadTextFile(connection_file.parent_path() /
                                                          "iothubowner.connection-string"));
  state.service_connection_string = TrimEnd(owner);
  COFFRE_ASSIGN_OR_RETURN(std::string eventhub, ReadTextFile(connection_file.parent_path() /
                                                             "eventhub.connection-string"));
  state.eventhub_connection_string = TrimEnd(eventhub);
  std::string_view entity = state.eventhub_connection_string;
  size_t at = entity.find("EntityPath=");
  state.eventhub_name = at == std::string_view::npos ? "" : std::string(entity.substr(at + 11));
  state.device_id = kDemoDevice;
  state.device_connection_string = TrimEnd(connection);
  if (state.ports.mqtt != 8883) {
    state.device_connection_string += ";GatewayHostName=localhost:" + std::to_string(state.ports.mqtt);
  }
  return Status::Ok();
}

}  // namespace coffre::cli
