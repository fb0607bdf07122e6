#include "hub_flags.h"


#include <iostream>

#include <CLI/CLI.hpp>

#include "common/numbers.h"
#include "config/config_check.h"
#include "config/daemon_config.h"
#include "config/secret_files.h"

namespace coffre {
namespace {

// A --NAME-per-second / --NAME-burst pair for one RateLimit.
void AddRate(CLI::App& app, const std::string& name, RateLimit& rate, double max_per_second,
             double max_burst, const std::string& per_second_help, const std::string& burst_help) {
  app.add_option(name + "-per-second", rate.per_second, per_second_help)
      ->check(CLI::Range(0.0, max_per_second));
  app.add_option(name + "-burst", rate.burst, burst_help)->check(CLI::Range(1.0, max_burst));
}

// Sets host and port from an "address:port" flag (port 0: any free port).
bool Listen(const std::string& text, const char* flag, std::string& host, uint16_t& port) {
  Result<HostPort> parsed = ParseListenAddress(text, flag);
  if (!parsed.has_value()) {
    std::cerr << "coffre-hub: " << parsed.error().message() << " (got '" << text << "')\n";
    return false;
  }
  host = parsed->host;
  port = parsed->port;
  return true;
}

// The paths of the secret files, `credential:NAME` resolved (systemd's LoadCredential), and
// refused if others could read them.
bool SecretFiles(hubservice::HubOptions& o) {
  constexpr std::string_view kDaemon = "coffre-hub";
  hub::EncryptionSettings& e = o.encryption;
  return config::ResolveTlsSettings(kDaemon, o.tls_cert, o.tls_key) &&
         config::ResolveSecretSetting(kDaemon, e.vault_token_file, "the vault token file") &&
         config::ResolveSecretSetting(kDaemon, e.key_events_secret_file,
                                      "the key events secret file") &&
         config::ResolveSecretSetting(kDaemon, o.service_key_file, "the service key file", true);
}

// --check-config: every file the settings name.
config::ConfigCheck CheckFiles(const hubservice::HubOptions& o) {
  config::ConfigCheck check;
  check.DataDirectory(o.dir);
  check.Certificates(o.tls_cert, o.tls_key);
  check.Secret(o.service_key_file, "the service key file", true);
  const hub::EncryptionSettings& e = o.encryption;
  if (e.key_uri.empty()) {
    check.Add(true, "no --vault-key-uri: a new hub is service-managed until a key is set");
  } else {
    check.Add(true, "customer-managed key " + e.key_uri + " (the vault is not asked here)");
    if (!e.vault_token_file.empty()) check.Secret(e.vault_token_file, "the vault token file", false);
    if (!e.vault_ca_file.empty()) check.CaFile(e.vault_ca_file, "the vault's CA");
  }
  if (!e.key_events_secret_file.empty()) {
    check.Secret(e.key_events_secret_file, "the key events secret file", false);
  }
  return check;
}

}  // namespace

std::optional<int> ParseHubFlags(int argc, char** argv, hubservice::HubOptions& o) {
  CLI::App app{"coffre-hub: an Azure IoT Hub-compatible hub sealed under a customer-managed key"};
  std::string mqtt_listen = "127.0.0.1:8883", https_listen = "127.0.0.1:443";
  std::string amqp_listen = "127.0.0.1:5671";
  int retention_days = 1;
  int retention_minutes = 0;
  uint64_t segment_mb = 64;
  uint64_t disk_reserve_mb = o.disk_reserve_bytes >> 20;
  int data_key_hours = 24;
  std::string expired_key = "inaccessible";
  int64_t connect_timeout_ms = o.mqtt.connect.deadline.count();
  int64_t d2c_max_delay_ms = o.mqtt.d2c_max_delay.count();
  hub::EncryptionSettings& e = o.encryption;
  app.add_option("--dir", o.dir, "hub data directory")->required();
  app.add_option("--mqtt-listen", mqtt_listen, "address:port for MQTT over TLS");
  app.add_option("--https-listen", https_listen, "address:port for the HTTPS service API");
  app.add_option("--amqp-listen", amqp_listen,
                 "address:port for AMQP over TLS (Event Hubs-compatible endpoint, port 0: any)");
  int tls_watch_seconds = 2;
  config::AddTlsFlags(app, o.tls_cert, o.tls_key, tls_watch_seconds);
  app.add_option("--host-name", o.host_names, "host names devices use (SAS audience)");
  auto* key_uri_option = app.add_option(
      "--vault-key-uri", e.key_uri,
      "the customer key: https://vault/keys/NAME[/VERSION]; without it, a new hub is "
      "service-managed (the weaker mode) until `coffre hub encryption set --key-uri`");
  app.add_option("--vault-token-file", e.vault_token_file, "the hub's vault token")
      ->needs(key_uri_option);
  app.add_option("--vault-ca-file", e.vault_ca_file, "CA of the vault's TLS certificate");
  app.add_option("--key-events-secret-file", e.key_events_secret_file,
                 "the secret of the vault's event subscription for POST /$coffre/keyevents")
      ->needs(key_uri_option);
  app.add_option("--service-key-file", o.service_key_file,
                 "the service key (infrastructure encryption); created if missing")
      ->required();
  // The hub's secrets sealed by a PKCS#11 token's key instead of kept in the clear.
  hubservice::ServiceKeyToken token;
  auto* pin_option = app.add_option(
      "--pkcs11-pin-file", token.pin_file,
      "a PKCS#11 token's user PIN: the service key is sealed by the token's key, and a vault "
      "token file sealed by `coffre seal-vault-token` opens with it");
  app.add_option("--pkcs11-token-label", token.token_label,
                 "the token's label (required when the service key is made)")
      ->needs(pin_option);
  app.add_option("--pkcs11-key-label", token.key_label,
                 std::string("the token's AES key (default: the file's, else ") +
                     hubservice::kServiceKeyTokenKeyLabel + ")")
      ->needs(pin_option);
  app.add_option("--pkcs11-module", token.module, "PKCS#11 library")
      ->capture_default_str()
      ->needs(pin_option);
  app.add_option("--partitions", o.telemetry.partitions,
                 "telemetry partitions (fixed at creation)");
  app.add_option("--key-check-interval-ms", e.key_check_interval_ms,
                 "how often the customer key is checked (get, wrapKey, unwrapKey)")
      ->check(CLI::Range(50, 500));
  app.add_option("--vault-grace-seconds", e.vault_grace_s,
                 "how long cached keys serve while the vault cannot be reached")
      ->check(CLI::Range(0, 86400));
  app.add_option(
         "--expired-key", expired_key,
         "what an expired customer key means: inaccessible, or continue (Key Vault's semantics)")
      ->check(CLI::IsMember({"inaccessible", "continue"}));
  app.add_option("--data-key-rotation-hours", data_key_hours,
                 "start a new data key per partition this often (default 24)")
      ->check(CLI::Range(1, 24 * 365));
  app.add_option("--data-key-max-records", o.telemetry.data_key_max_records,
                 "and after this many records (default 2^30; a key's nonce budget is 2^32)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 32));
  app.add_option("--disk-reserve-mb", disk_reserve_mb,
                 "free space kept on the data's disk: past it, messages are refused (not "
                 "acknowledged) until space returns (default 64; 0: none)")
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 20));
  app.add_option("--retention-days", retention_days,
                 "telemetry retention, 1 to 7 days (Azure's range)")
      ->check(CLI::Range(1, 7));
  app.add_option("--retention-minutes", retention_minutes,
                 "telemetry retention in minutes instead (1 to 10080: soaks, small disks); "
                 "checked every minute, whole segments at a time")
      ->check(CLI::Range(1, 7 * 24 * 60));
  app.add_option("--segment-mb", segment_mb,
                 "telemetry segment size in MiB (default 64): retention frees whole segments")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1024}));
  // A restore is a one-off: never from a file the next start reads again.
  app.add_option("--restore-from", o.restore_from,
                 "restore this backup (coffre hub backup) into --dir first, then start")
      ->check(CLI::ExistingFile)
      ->configurable(false);
  app.add_flag("--discard-current-data", o.restore_discard_current,
               "with --restore-from: replace data in --dir that cannot be opened or is another "
               "hub's (its erasures cannot be carried over)")
      ->configurable(false);
  app.add_option("--bootstrap-device", o.bootstrap_devices,
                 "create this device if missing; its connection string goes to DIR/bootstrap/");
  app.add_option("--mqtt-connect-timeout-ms", connect_timeout_ms,
                 "MQTT (and MQTT over WebSocket): time from accept to an accepted CONNECT, TLS "
                 "handshake included (default 10000)")
      ->check(CLI::Range(int64_t{100}, int64_t{600'000}));
  app.add_option("--mqtt-max-unauthenticated", o.mqtt.connect.max_unauthenticated,
                 "MQTT connections without an accepted CONNECT at once; more are closed at accept")
      ->check(CLI::Range(size_t{1}, size_t{1'000'000}));
  app.add_option("--mqtt-max-unauthenticated-per-source",
                 o.mqtt.connect.max_unauthenticated_per_source,
                 "the same, per source IP address (default 100)")
      ->check(CLI::Range(size_t{1}, size_t{1'000'000}));
  AddRate(app, "--mqtt-failed-connects", o.mqtt.connect.failed_auth_per_source, 1e6, 1e9,
          "refused CONNECTs per source IP address and second; past the burst, CONNACK 3 "
          "without checking credentials (0: no limit)",
          "refused CONNECTs a source may make at once (default 200)");
  AddRate(app, "--d2c", o.quotas.d2c_sends, 1e9, 1e9,
          "hub-wide device-to-cloud messages per second, all protocols (0: no limit)",
          "device-to-cloud messages absorbed at once above the rate");
  app.add_option("--mqtt-d2c-max-delay-ms", d2c_max_delay_ms,
                 "over the d2c quota, how long an MQTT message may wait before its connection "
                 "is closed (default 10000)")
      ->check(CLI::Range(int64_t{0}, int64_t{600'000}));
  AddRate(app, "--throttle-failed-auth", o.throttling.failed_auth_per_source, 1e6, 1e6,
          "HTTPS requests with refused credentials allowed per source address and second "
          "once its burst is used (then 429; 0: no limit; default 10)",
          "refused credentials a source address may send at once (default 100)");
  AddRate(app, "--throttle-registry-ops", o.throttling.registry_operations, 1e6, 1e6,
          "registry operations per second for the whole hub (then 429; 0: no limit; default 100)",
          "registry operations the hub takes at once (default 200)");
  app.add_option("--postgres-conninfo", o.postgres_conninfo,
                 "cluster mode: keep the hub's data in PostgreSQL at this libpq connection "
                 "string (several hosts with target_session_attrs=read-write; a password only "
                 "through passfile=; docs/CLUSTER.md)");
  std::vector<std::string> partition_clusters;
  app.add_option("--postgres-partition-cluster", partition_clusters,
                 "cluster mode: keep these telemetry partitions in another PostgreSQL cluster: "
                 "PARTITIONS=CONNINFO, e.g. \"2,3=host=db-b ...\" or \"4-7=...\" (repeat for "
                 "each cluster; the rest stay in --postgres-conninfo; docs/CLUSTER.md)");
  std::string durability = "quorum";
  app.add_option("--postgres-durability", durability,
                 "quorum (default): refuse a server that does not commit to a synchronous "
                 "standby; local: accept one (a single server; a loud warning)")
      ->check(CLI::IsMember({"quorum", "local"}));
  app.add_flag("--metrics-open", o.metrics_open,
               "serve GET /metrics without a SAS token (a Prometheus scraper on a trusted "
               "network; docs/METRICS.md)");
  config::DaemonConfig daemon;
  config::AddDaemonConfig(app, "hub", daemon);
  if (auto exit_code = config::ParseDaemonCommandLine(app, argc, argv, "coffre-hub")) {
    return exit_code;
  }
  // The map first: it needs no file, and names its bad entry.
  for (size_t i = 0; i < partition_clusters.size(); ++i) {
    Result<hubservice::PartitionCluster> entry =
        hubservice::ParsePartitionCluster(partition_clusters[i]);
    if (!entry.has_value()) {
      std::cerr << "coffre-hub: --postgres-partition-cluster entry " << i + 1 << ": "
                << entry.error().message() << "\n";
      return 2;
    }
    o.partition_clusters.push_back(std::move(*entry));
  }
  if (Status map = hubservice::CheckPartitionClusters(o.partition_clusters, o.telemetry.partitions,
                                                      !o.postgres_conninfo.empty());
      !map.ok()) {
    std::cerr << "coffre-hub: " << map.message() << "\n";
    return 2;
  }
  if (!Listen(mqtt_listen, "--mqtt-listen", o.mqtt.address, o.mqtt.port) ||
      !Listen(https_listen, "--https-listen", o.https.address, o.https.port) ||
      !Listen(amqp_listen, "--amqp-listen", o.amqp.address, o.amqp.port) || !SecretFiles(o)) {
    return 2;
  }
  if (o.postgres_conninfo.find("password") != std::string::npos) {
    std::cerr << "coffre-hub: --postgres-conninfo: no password in the connection string (it "
                 "would show in the process list and the settings): use passfile=FILE (mode "
                 "0600)\n";
    return 2;
  }
  o.postgres_relaxed_durability = durability == "local";
  e.expired_is_inaccessible = expired_key == "inaccessible";
  o.telemetry.data_key_max_age = std::chrono::hours(data_key_hours);
  o.ingest.retention = retention_minutes > 0 ? std::chrono::minutes(retention_minutes)
                                             : std::chrono::minutes(24 * 60 * retention_days);
  o.telemetry.log.segment_bytes = segment_mb << 20;
  o.disk_reserve_bytes = disk_reserve_mb << 20;
  o.mqtt.connect.deadline = std::chrono::milliseconds(connect_timeout_ms);
  o.mqtt.d2c_max_delay = std::chrono::milliseconds(d2c_max_delay_ms);
  o.certificate_check_period = std::chrono::seconds(tls_watch_seconds);
  if (!token.pin_file.empty()) {
    if (!config::ResolveSecretSetting("coffre-hub", token.pin_file, "the PKCS#11 PIN file")) {
      return 2;
    }
    o.service_key_token = token;
  }
  if (daemon.check_only) return CheckFiles(o).Print("coffre-hub", daemon.file);
  return std::nullopt;
}

}  // namespace coffre
