// coffre-hub: the IoT hub. Wiring only: flags, keys, stores, servers, signals.
#include <csignal>
#include <iostream>

#include <CLI/CLI.hpp>

#include "common/files.h"
#include "crypto/secure_heap.h"
#include "hub/access_policies.h"
#include "hub/consumer_groups.h"
#include "hub/device_auth.h"
#include "hub/hub_keys.h"
#include "hub/encryption_settings.h"
#include "hub/key_custody.h"
#include "hub/key_monitor.h"
#include "hubapi/encryption_api.h"
#include "hubapi/key_events_api.h"
#include "common/log.h"
#include "hub/registry.h"
#include "hub/telemetry_ingest.h"
#include "hub/telemetry_store.h"
#include "hubapi/device_api.h"
#include "hubapi/http_throttle.h"
#include "hubapi/read_api.h"
#include "hubapi/service_api.h"
#include "mqtt/server.h"
#include "mqtt/websocket_options.h"
#include "net/https_server.h"
#include "storage/file_cipher.h"
#include "storage/rocks_kv_store.h"

namespace {

using namespace coffre;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int Fail(const Status& s) {
  std::cerr << "coffre-hub: " << s << std::endl;
  return 1;
}

// Splits "address:port".
Result<std::pair<std::string, uint16_t>> Endpoint(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) return InvalidArgument(text + " is not address:port");
  return std::make_pair(text.substr(0, colon), static_cast<uint16_t>(std::stoi(text.substr(colon + 1))));
}

// The iothubowner connection string for the local stack's tools (mode 0600).
Status WriteOwnerConnectionString(hub::AccessPolicies& policies, const std::string& host,
                                  const std::filesystem::path& dir) {
  COFFRE_ASSIGN_OR_RETURN(hub::AccessPolicy owner, policies.Get("iothubowner"));
  COFFRE_RETURN_IF_ERROR(EnsurePrivateDirectory(dir));
  std::string text = "HostName=" + host + ";SharedAccessKeyName=iothubowner;SharedAccessKey=" +
                     owner.primary_key + "\n";
  return WriteFileDurably(dir / "iothubowner.connection-string", AsBytes(text), 0600);
}

// Creates the device if missing and writes its connection string (mode 0600) for the local
// stack.
Status BootstrapDevice(hub::Registry& registry, const std::string& id, const std::string& host,
                       const std::filesystem::path& dir) {
  Result<hub::DeviceIdentity> device = registry.Get(id);
  if (!device.has_value() && device.error().code() == StatusCode::kNotFound) {
    hub::DeviceIdentity d;
    d.device_id = id;
    device = registry.Create(d);
  }
  if (!device.has_value()) return device.error();
  COFFRE_RETURN_IF_ERROR(EnsurePrivateDirectory(dir));
  std::string text = "HostName=" + host + ";DeviceId=" + id + ";SharedAccessKey=" +
                     device->primary_key + "\n";
  return WriteFileDurably(dir / (id + ".connection-string"), AsBytes(text), 0600);
}

}  // namespace

bool OpenSslWipesOnFree();  // wipe_on_free.cc

int main(int argc, char** argv) {
  CLI::App app{"coffre-hub: an Azure IoT Hub-compatible hub sealed under a customer-managed key"};
  std::filesystem::path dir, tls_cert, tls_key, token_file, vault_ca, service_key_file;
  std::filesystem::path key_events_secret_file;
  std::string mqtt_listen = "127.0.0.1:8883", https_listen = "127.0.0.1:443", key_uri;
  std::vector<std::string> host_names = {"localhost"};
  std::vector<std::string> bootstrap_devices;
  int partitions = 4;
  int retention_days = 1;
  int data_key_hours = 24;
  uint64_t data_key_records = uint64_t{1} << 30;
  int key_check_ms = 500, grace_s = 60;
  std::string expired_key = "inaccessible";
  app.add_option("--dir", dir, "hub data directory")->required();
  app.add_option("--mqtt-listen", mqtt_listen, "address:port for MQTT over TLS");
  app.add_option("--https-listen", https_listen, "address:port for the HTTPS service API");
  app.add_option("--tls-cert", tls_cert, "PEM certificate chain")->required();
  app.add_option("--tls-key", tls_key, "PEM private key")->required();
  app.add_option("--host-name", host_names, "host names devices use (SAS audience)");
  auto* key_uri_option = app.add_option(
      "--vault-key-uri", key_uri,
      "the customer key: https://vault/keys/NAME[/VERSION]; without it, a new hub is "
      "service-managed (the weaker mode) until `coffre hub encryption set --key-uri`");
  app.add_option("--vault-token-file", token_file, "the hub's vault token")->needs(key_uri_option);
  app.add_option("--vault-ca-file", vault_ca, "CA of the vault's TLS certificate");
  app.add_option("--key-events-secret-file", key_events_secret_file,
                 "the secret of the vault's event subscription for POST /$coffre/keyevents")
      ->needs(key_uri_option);
  app.add_option("--service-key-file", service_key_file,
                 "the service key (infrastructure encryption); created if missing")
      ->required();
  app.add_option("--partitions", partitions, "telemetry partitions (fixed at creation)");
  app.add_option("--key-check-interval-ms", key_check_ms,
                 "how often the customer key is checked (get, wrapKey, unwrapKey)")
      ->check(CLI::Range(50, 500));
  app.add_option("--vault-grace-seconds", grace_s,
                 "how long cached keys serve while the vault cannot be reached")
      ->check(CLI::Range(0, 86400));
  app.add_option("--expired-key", expired_key,
                 "what an expired customer key means: inaccessible, or continue (Key Vault's semantics)")
      ->check(CLI::IsMember({"inaccessible", "continue"}));
  app.add_option("--data-key-rotation-hours", data_key_hours,
                 "start a new data key per partition this often (default 24)")
      ->check(CLI::Range(1, 24 * 365));
  app.add_option("--data-key-max-records", data_key_records,
                 "and after this many records (default 2^30; a key's nonce budget is 2^32)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 32));
  app.add_option("--retention-days", retention_days, "telemetry retention, 1 to 7 days (Azure's range)")
      ->check(CLI::Range(1, 7));
  app.add_option("--bootstrap-device", bootstrap_devices,
                 "create this device if missing; its connection string goes to DIR/bootstrap/");
  hubapi::HttpThrottleOptions throttling;
  app.add_option("--throttle-failed-auth-per-second", throttling.failed_auth_per_source.per_second,
                 "HTTPS requests with refused credentials allowed per source address and second "
                 "once its burst is used (then 429; 0: no limit; default 10)")
      ->check(CLI::Range(0.0, 1e6));
  app.add_option("--throttle-failed-auth-burst", throttling.failed_auth_per_source.burst,
                 "refused credentials a source address may send at once (default 100)")
      ->check(CLI::Range(1.0, 1e6));
  app.add_option("--throttle-registry-ops-per-second", throttling.registry_operations.per_second,
                 "registry operations per second for the whole hub (then 429; 0: no limit; default 100)")
      ->check(CLI::Range(0.0, 1e6));
  app.add_option("--throttle-registry-ops-burst", throttling.registry_operations.burst,
                 "registry operations the hub takes at once (default 200)")
      ->check(CLI::Range(1.0, 1e6));
  CLI11_PARSE(app, argc, argv);

  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  if (Status s = crypto::InitSecureHeap(); !s.ok()) return Fail(s);
  if (!OpenSslWipesOnFree()) {
    LogLine("memory", "warning: OpenSSL allocated before its allocator could be replaced: its "
                      "freed buffers are not wiped");
  }
  if (!std::filesystem::exists(service_key_file)) {
    if (Status s = storage::CreateServiceKeyFile(service_key_file); !s.ok()) return Fail(s);
  }
  Result<crypto::SecretBytes> service_key = storage::LoadServiceKeyFile(service_key_file);
  if (!service_key.has_value()) return Fail(service_key.error());
  if (Status s = EnsurePrivateDirectory(dir); !s.ok()) return Fail(s);
  auto kv = storage::RocksKvStore::Open(dir / "meta", {nullptr, &*service_key});
  if (!kv.has_value()) return Fail(kv.error());
  // Stored settings (coffre hub encryption set) win over the flags, which seed a new hub.
  hub::EncryptionSettings initial;
  initial.key_uri = key_uri;
  initial.vault_token_file = token_file.string();
  initial.vault_ca_file = vault_ca.string();
  initial.key_events_secret_file = key_events_secret_file.string();
  initial.key_check_interval_ms = key_check_ms;
  initial.vault_grace_s = grace_s;
  initial.expired_is_inaccessible = expired_key == "inaccessible";
  auto config = hub::EncryptionConfig::Load(**kv, initial);
  if (!config.has_value()) return Fail(config.error());
  hub::EncryptionSettings settings = (*config)->Get();
  if (settings.key_events_secret_file.empty() && !key_events_secret_file.empty()) {
    // A hub made before it subscribed to key events takes the flag's secret file.
    settings.key_events_secret_file = key_events_secret_file.string();
    if (Status s = (*config)->Set(settings); !s.ok()) return Fail(s);
  }
  if (!settings.customer_managed()) {
    LogLine("keys", "warning: service-managed keys: no customer-managed key protects this hub's "
                    "data (turn one on with `coffre hub encryption set --key-uri`)");
  }
  hub::KeyCustody custody(**config, *service_key, dir);
  Status locked_because;
  auto keys = custody.Open(**kv, &locked_because);
  if (!keys.has_value()) return Fail(keys.error().WithContext("unwrapping the hub root key"));
  if ((*keys)->locked()) {
    // An existing hub whose vault cannot be reached, or refuses, starts Inaccessible and
    // recovers by itself once the key can be used.
    LogLine("keys", "starting Inaccessible: the customer-managed key " + settings.key_uri +
                        " cannot be used (" + locked_because.message() + ")");
  }
  hub::Registry registry(**kv, **keys, NowMs);

  hub::TelemetryStoreOptions telemetry;
  telemetry.hub_name = host_names.front();
  telemetry.partitions = partitions;
  telemetry.data_key_max_records = data_key_records;
  telemetry.data_key_max_age = std::chrono::hours(data_key_hours);
  telemetry.log.service_key = &*service_key;
  auto store = hub::TelemetryStore::Open(dir / "telemetry", **keys, telemetry);
  if (!store.has_value()) return Fail(store.error());
  hub::IngestOptions ingest_options;
  ingest_options.retention = std::chrono::hours(24 * retention_days);
  hub::TelemetryIngest ingest(**store, ingest_options);
  hub::DeviceAuthenticator auth(registry, host_names, [] { return NowMs() / 1000; });

  auto policies = hub::AccessPolicies::Open(**kv, **keys, host_names, [] { return NowMs() / 1000; });
  if (!policies.has_value()) return Fail(policies.error());
  // The local stack's connection strings need the keys; a locked start keeps the last ones.
  if (!(*keys)->locked()) {
    if (Status s = WriteOwnerConnectionString(**policies, host_names.front(), dir / "bootstrap");
        !s.ok()) {
      return Fail(s);
    }
    for (const std::string& id : bootstrap_devices) {
      if (Status s = BootstrapDevice(registry, id, host_names.front(), dir / "bootstrap"); !s.ok()) {
        return Fail(s);
      }
    }
  }

  hub::KeyMonitorOptions monitor_options;
  monitor_options.key_uri = settings.key_uri;
  monitor_options.interval = std::chrono::milliseconds(settings.key_check_interval_ms);
  monitor_options.grace = std::chrono::seconds(settings.vault_grace_s);
  monitor_options.expired_is_inaccessible = settings.expired_is_inaccessible;
  mqtt::MqttServer* mqtt_for_monitor = nullptr;  // set once the server runs
  std::mutex mqtt_for_monitor_mu;
  hub::KeyMonitor monitor(**keys, custody.checker(), monitor_options, [&](const hub::EncryptionStatus& s) {
    std::string key = (*config)->Get().key_uri;
    if (s.accessible) {
      LogLine("keys", "the customer-managed key " + key + " is usable again: serving");
      return;
    }
    LogLine("keys", "the customer-managed key " + key + " is inaccessible (" + s.reason + ": " +
                        s.detail + "): keys zeroized, closing device connections");
    std::lock_guard<std::mutex> guard(mqtt_for_monitor_mu);
    if (mqtt_for_monitor != nullptr) mqtt_for_monitor->CloseAll();
  });

  mqtt::MqttServerOptions mqtt_options;
  auto mqtt_endpoint = Endpoint(mqtt_listen);
  if (!mqtt_endpoint.has_value()) return Fail(mqtt_endpoint.error());
  std::tie(mqtt_options.address, mqtt_options.port) = *mqtt_endpoint;
  mqtt_options.cert_file = tls_cert;
  mqtt_options.key_file = tls_key;
  auto mqtt_server = mqtt::MqttServer::Start(mqtt_options, auth, ingest, registry);
  if (!mqtt_server.has_value()) return Fail(mqtt_server.error());
  {
    std::lock_guard<std::mutex> guard(mqtt_for_monitor_mu);
    mqtt_for_monitor = mqtt_server->get();
  }

  hubapi::HttpThrottle throttle(throttling);
  hubapi::ServiceApi service_api(registry, **policies);
  service_api.set_throttle(&throttle);
  auto groups = hub::ConsumerGroups::Open(**kv, **keys, partitions, NowMs);
  if (!groups.has_value()) return Fail(groups.error());
  hubapi::ReadApi read_api(**store, **groups, **policies);
  hubapi::DeviceApi device_api(auth, ingest);
  hubapi::EncryptionApi encryption_api(monitor, **config, custody, **keys, **policies);
  hubapi::KeyEventsApi key_events_api(monitor, **config, [] { return NowMs() / 1000; });
  net::HttpsServerOptions https_options;
  auto https_endpoint = Endpoint(https_listen);
  if (!https_endpoint.has_value()) return Fail(https_endpoint.error());
  std::tie(https_options.address, https_options.port) = *https_endpoint;
  https_options.cert_file = tls_cert;
  https_options.key_file = tls_key;
  https_options.error_response = [](unsigned status, std::string_view message) {
    return hubapi::ServiceApi::Error(status, status == 413 ? "MessageTooLarge" : "ArgumentInvalid", message);
  };
  https_options.upgrade_path = mqtt::kWebSocketPath;
  https_options.on_upgrade = (*mqtt_server)->WebSocketHandler();
  auto route = [&](const net::HttpRequest& r) -> net::HttpResponse {
    if (auto response = encryption_api.Handle(r)) return *response;
    if (auto response = key_events_api.Handle(r)) return *response;  // also while Inaccessible
    if (auto refusal = encryption_api.RefuseIfInaccessible()) return *refusal;
    if (auto response = service_api.Handle(r)) return *response;
    if (auto response = read_api.Handle(r)) return *response;
    if (auto response = device_api.Handle(r)) return *response;
    return hubapi::ServiceApi::Error(404, "NotFound", "No such path: " + r.target);
  };
  auto https_server = net::HttpsServer::Start(https_options, [&](const net::HttpRequest& r) {
    if (auto throttled = throttle.RefuseSource(r)) return *throttled;
    net::HttpResponse response = route(r);
    throttle.Observe(r, response);
    return response;
  });
  if (!https_server.has_value()) return Fail(https_server.error());

  monitor.CheckNow();  // the status is right from the first request on
  monitor.Start();
  std::cout << "coffre-hub listening on mqtts://" << mqtt_options.address << ":"
            << (*mqtt_server)->port() << " and https://" << https_options.address << ":"
            << (*https_server)->port() << " (pid " << ::getpid() << "), customer key "
            << (*keys)->wrapped_root().key_id << ", checked every " << settings.key_check_interval_ms << " ms"
            << std::endl;
  int sig = 0;
  sigwait(&stop, &sig);
  std::cout << "coffre-hub stopping" << std::endl;
  monitor.Stop();
  {
    std::lock_guard<std::mutex> guard(mqtt_for_monitor_mu);
    mqtt_for_monitor = nullptr;
  }
  (*https_server)->Stop();
  (*mqtt_server)->Stop();
  ingest.Stop();  // its last completions post to the servers' io contexts, stopped but alive
  return 0;
}
