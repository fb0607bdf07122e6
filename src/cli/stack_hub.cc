#include "cli/stack_hub.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

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

}  // namespace

Status EnsureHub(StackState& state) {
  std::filesystem::path hub_dir = state.dir / "hub";
  COFFRE_RETURN_IF_ERROR(EnsurePrivateDirectory(hub_dir));
  std::filesystem::path connection_file = hub_dir / "data" / "bootstrap" /
                                          (std::string(kDemoDevice) + ".connection-string");
  auto it = state.pids.find("hub");
  if (it == state.pids.end() || !ProcessAlive(it->second)) {
    std::vector<std::string> args = {
        "--dir", (hub_dir / "data").string(),
        "--mqtt-listen", "127.0.0.1:" + std::to_string(state.ports.mqtt),
        "--https-listen", "127.0.0.1:" + std::to_string(state.ports.https),
        "--amqp-listen", "127.0.0.1:" + std::to_string(state.ports.amqp),
        "--tls-cert", (state.dir / "tls" / "server.pem").string(),
        "--tls-key", (state.dir / "tls" / "server-key.pem").string(),
        "--host-name", state.hub_host,
        "--vault-key-uri", state.vault_url + "/keys/" + state.key_name,
        "--vault-token-file", (hub_dir / "vault-token").string(),
        "--vault-ca-file", state.ca_file.string(),
        "--key-events-secret-file", (hub_dir / "key-events-secret").string(),
        "--service-key-file", (hub_dir / "service.key").string(),
        "--bootstrap-device", kDemoDevice};
    // Cluster mode's store, when the stack has one: ClusterHubArgs is the one place.
    std::vector<std::string> store = ClusterHubArgs(state.cluster);
    args.insert(args.end(), store.begin(), store.end());
    // The settings go to the hub's configuration file; --hub-arg flags override it.
    std::filesystem::path config_file = hub_dir / "hub.toml";
    COFFRE_RETURN_IF_ERROR(config::WriteSettingsFile(config_file, StackConfigHeader("coffre-hub"), args));
    std::vector<std::string> command = {"--config", config_file.string()};
    command.insert(command.end(), state.hub_args.begin(), state.hub_args.end());
    COFFRE_ASSIGN_OR_RETURN(int pid, SpawnDaemon(OwnBinaryDir() / "coffre-hub", command,
                                                 hub_dir / "hub.log"));
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
