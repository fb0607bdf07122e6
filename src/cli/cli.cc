#include "cli/cli.h"

#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/completion.h"
#include "cli/hub_commands.h"
#include "cli/seal_vault_token.h"
#include "cli/verify_at_rest.h"
#include "cli/local_stack.h"
#include "cli/move_partition.h"
#include "cli/stack_status.h"
#include "cli/vault_commands.h"
#include "crypto/secure_heap.h"

namespace coffre::cli {
namespace {

void PrintHowToConnect(const StackState& s) {
  std::cout << "Coffre local stack in " << s.dir.string() << "\n"
            << "  CA certificate:   " << s.ca_file.string() << "\n"
            << "  hub host name:    " << s.hub_host << "\n"
            << "  ports reserved:   vault " << s.ports.vault << ", MQTT " << s.ports.mqtt
            << ", HTTPS " << s.ports.https << ", AMQP " << s.ports.amqp << "\n"
            << "  connection file:  " << (s.dir / "connection.json").string() << "\n";
  for (const auto& [name, pid] : s.pids) {
    std::cout << "  running:          " << name << " (pid " << pid << ")\n";
  }
  if (s.cluster.enabled) {
    std::cout << "  cluster store:    PostgreSQL 15 on ports";
    for (const PostgresMember& m : s.cluster.postgres) std::cout << " " << m.port;
    std::cout << " (Patroni";
    for (const PostgresMember& m : s.cluster.postgres) std::cout << " " << m.patroni_port;
    std::cout << "; etcd";
    for (const EtcdMember& m : s.cluster.etcd) std::cout << " " << m.port;
    std::cout << ")\n"
              << "  cluster leader:   curl -s http://"
              << (s.cluster.postgres.empty() ? kLoopbackHost : s.cluster.postgres[0].host) << ":"
              << (s.cluster.postgres.empty() ? 0 : s.cluster.postgres[0].patroni_port)
              << "/cluster   (postgres_conninfo in connection.json; docs/CLUSTER.md)\n";
  }
  if (!s.vault_url.empty()) {
    std::cout << "  vault:            " << s.vault_url << " (customer key '" << s.key_name
              << "', owner token in connection.json)\n"
              << "  try:              curl --cacert " << s.ca_file.string() << " -H "
              << "\"Authorization: Bearer $(jq -r .vault_token " << (s.dir / "connection.json").string()
              << ")\" '" << s.vault_url << "/keys/" << s.key_name << "/?api-version=7.5'\n";
  }
  if (!s.device_id.empty()) {
    std::cout << "  hub (MQTT):       mqtts://" << s.hub_host << ":" << s.ports.mqtt << " (device "
              << s.device_id << ", connection string in connection.json)\n"
              << "  hub (HTTPS):      https://" << s.hub_host << ":" << s.ports.https
              << " (service API; iothubowner connection string in connection.json)\n";
  }
  if (!s.eventhub_name.empty()) {
    std::cout << "  hub (Event Hubs): sb://" << s.hub_host << ":" << s.ports.amqp << "/ entity "
              << s.eventhub_name << " (eventhub_connection_string in connection.json)\n";
  }
  if (!s.device_id.empty() && !s.vault_url.empty()) {
    // What to try first: telemetry in, telemetry out, and the customer's key taken away.
    std::string dir = s.dir.string();
    std::cout << "Try next:\n"
              << "  coffre hub device send " << s.device_id
              << " --message '{\"temp\": {n}}' --count 5 --dir " << dir << "\n"
              << "  coffre hub monitor-events --from-start --timeout 5 --dir " << dir << "\n"
              << "  coffre vault key disable " << s.key_name << " --dir " << dir
              << "   # the hub refuses everything within a second; `enable` brings it back\n"
              << "  coffre status --dir " << dir << "\n";
  }
  std::cout << "Stop it with: coffre down --dir " << s.dir.string() << "\n";
}

}  // namespace

int RunCli(int argc, char** argv) {
  CLI::App app{"coffre: operate a Coffre hub and its key vault"};
  app.require_subcommand(1);

  UpOptions up;
  CLI::App* up_cmd = app.add_subcommand("up", "start the local stack in DIR (development, tests)");
  up_cmd->add_option("--dir", up.dir, "stack directory (holds every secret of the stack)")
      ->required();
  up_cmd->add_option("--ports-from", up.ports_from, "pick free ports from N upward");
  up_cmd->add_option("--hub-host", up.hub_host, "host name devices use for the hub");
  up_cmd->add_flag("--cluster", up.cluster,
                   "also run cluster mode's replicated PostgreSQL store (3 etcd, 3 Patroni + "
                   "PostgreSQL 15; docs/CLUSTER.md); kept by later starts of DIR");
  // A layout of three machines on one host, for the network-partition test: each node (etcd N,
  // Patroni N and its PostgreSQL) binds its own address inside its own network namespace.
  up_cmd
      ->add_option("--cluster-node-hosts", up.cluster_nodes.hosts,
                   "IPv4 address of each cluster node, comma-separated (default: all on "
                   "127.0.0.1); set when the cluster is made")
      ->delimiter(',')
      ->needs("--cluster");
  up_cmd
      ->add_option("--cluster-node-netns", up.cluster_nodes.netns,
                   "network namespace (ip netns add) each cluster node runs in, comma-separated; "
                   "needs --cluster-node-hosts")
      ->delimiter(',')
      ->needs("--cluster-node-hosts");
  up_cmd->add_option("--hub-arg", up.hub_args,
                     "pass this flag on to coffre-hub when it starts (repeatable; e.g. "
                     "--hub-arg=--throttle-registry-ops-per-second=5); not recorded")
      ->allow_extra_args(false);
  // Generating an RSA-3072 key costs about half a CPU-second here, 4096 three times that; the
  // test suite starts dozens of stacks and takes 2048 through the environment.
  up_cmd
      ->add_option("--key-size", up.key_size,
                   "RSA bits of the customer key, when this start creates it (default 3072)")
      ->check(CLI::IsMember({2048, 3072, 4096}))
      ->envname("COFFRE_UP_KEY_SIZE");
  auto* token_opt = up_cmd->add_option(
      "--pkcs11-token-label", up.pkcs11.token_label,
      "seal the vault's master key by a key on this PKCS#11 token, not a passphrase");
  auto* pin_opt = up_cmd->add_option("--pkcs11-pin-file", up.pkcs11.pin_file,
                                     "file holding the token's user PIN");
  token_opt->needs(pin_opt);
  pin_opt->needs(token_opt);
  up_cmd->add_option("--pkcs11-module", up.pkcs11.module, "PKCS#11 library")->needs(token_opt);
  up_cmd->add_option("--pkcs11-key-label", up.pkcs11.key_label, "label of the key on the token")
      ->needs(token_opt);

  std::string down_dir;
  CLI::App* down_cmd = app.add_subcommand("down", "stop the local stack in DIR");
  down_cmd->add_option("--dir", down_dir, "stack directory")->required();

  std::string status_dir, status_output = "table";
  CLI::App* status_cmd = app.add_subcommand(
      "status", "the local stack in DIR: each daemon's state and readiness, its ports, the key");
  status_cmd->add_option("--dir", status_dir, "stack directory")->required();
  status_cmd->add_option("--output", status_output, "table (default), json or tsv")
      ->check(CLI::IsMember({"table", "json", "tsv"}));

  VerifyAtRestOptions at_rest;
  CLI::App* verify_cmd = app.add_subcommand(
      "verify-at-rest", "show what a stopped hub's files reveal with and without the service key");
  verify_cmd->add_option("--hub-data", at_rest.hub_data, "coffre-hub's --dir")->required();
  verify_cmd->add_option("--service-key-file", at_rest.service_key_file,
                         "coffre-hub's --service-key-file")->required();
  verify_cmd->add_option("--find", at_rest.find, "a text that must appear nowhere (repeatable)");

  SealVaultTokenOptions seal;
  CLI::App* seal_cmd = app.add_subcommand(
      "seal-vault-token",
      "seal the hub's vault token by a key on the hub's PKCS#11 token (coffre-hub --pkcs11-*)");
  seal_cmd->add_option("--in", seal.in, "the token as the vault issued it")->required();
  seal_cmd->add_option("--out", seal.out, "the sealed file to write (vault_token_file)")->required();
  seal_cmd->add_option("--pkcs11-pin-file", seal.pin_file, "the token's user PIN")->required();
  seal_cmd->add_option("--pkcs11-token-label", seal.token_label, "the token's label")->required();
  seal_cmd->add_option("--pkcs11-key-label", seal.key_label,
                       "the token's AES key (default coffre-hub-service; made if missing)");
  seal_cmd->add_option("--pkcs11-module", seal.module, "PKCS#11 library (default SoftHSM2's)");

  MovePartitionOptions move;
  CLI::App* move_cmd = app.add_subcommand(
      "move-partition",
      "cluster mode, every hub node stopped: move a telemetry partition's records from one "
      "PostgreSQL cluster to another (docs/CLUSTER.md, \"Adding a cluster\")");
  move_cmd->add_option("--from", move.from, "the cluster holding it (libpq connection string)")
      ->required();
  move_cmd->add_option("--to", move.to, "the cluster to hold it")->required();
  move_cmd->add_option("--partition", move.partition, "its number")->required();

  app.add_subcommand("version", "print the version");
  std::string shell;
  CLI::App* completion_cmd = app.add_subcommand(
      "completion", "print a shell completion script: source <(coffre completion bash)");
  completion_cmd->add_option("shell", shell, "the shell (bash)")
      ->required()
      ->check(CLI::IsMember({"bash"}));
  VaultCommands vault(app);
  HubCommands hub(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 numbers its errors from 100 up; a usage error is exit code 2, as for other tools.
    return app.exit(e) == 0 ? 0 : 2;
  }

  if (Status s = crypto::InitSecureHeap(); !s.ok()) {
    std::cerr << "coffre: " << s << "\n";
    return 1;
  }
  if (completion_cmd->parsed()) {
    std::cout << BashCompletion(app, "coffre");
    return 0;
  }
  if (vault.Selected()) return vault.Run();
  if (hub.Selected()) return hub.Run();
  if (up_cmd->parsed()) {
    Result<StackState> state = StackUp(up);
    if (!state.has_value()) {
      std::cerr << "coffre up: " << state.error() << "\n";
      return 1;
    }
    PrintHowToConnect(*state);
    return 0;
  }
  if (move_cmd->parsed()) {
    Result<std::string> moved = MovePartitionCommand(move);
    if (!moved.has_value()) {
      std::cerr << "coffre move-partition: " << moved.error() << "\n";
      return 1;
    }
    std::cout << *moved << "\n";
    return 0;
  }
  if (seal_cmd->parsed()) {
    if (Status s = SealVaultToken(seal); !s.ok()) {
      std::cerr << "coffre seal-vault-token: " << s << "\n";
      return 1;
    }
    std::cout << "sealed the vault token into " << seal.out.string() << "\n";
    return 0;
  }
  if (verify_cmd->parsed()) {
    Result<AtRestReport> report = VerifyAtRest(at_rest);
    if (!report.has_value()) {
      std::cerr << "coffre verify-at-rest: " << report.error() << "\n";
      return 1;
    }
    PrintAtRestReport(*report, std::cout);
    return report->clean() ? 0 : 1;
  }
  if (status_cmd->parsed()) {
    Result<nlohmann::json> status = StackStatus(status_dir);
    if (!status.has_value()) {
      std::cerr << "coffre status: " << status.error() << "\n";
      return 1;
    }
    if (status_output == "json") {
      std::cout << status->dump(2) << "\n";
    } else {
      PrintStackStatus(*status, std::cout, status_output == "tsv");
    }
    return StackReady(*status) ? 0 : 1;
  }
  if (down_cmd->parsed()) {
    if (Status s = StackDown(down_dir); !s.ok()) {
      std::cerr << "coffre down: " << s << "\n";
      return 1;
    }
    std::cout << "stopped the local stack in " << down_dir << "\n";
    return 0;
  }
  std::cout << "coffre " << COFFRE_VERSION << "\n";
  return 0;
}

}  // namespace coffre::cli
