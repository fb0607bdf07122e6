// coffre-hub: the IoT hub. Wiring only: flags, keys, stores, servers, signals.
#include <csignal>
#include <iostream>

#include <CLI/CLI.hpp>

#include "common/clock.h"
#include "common/files.h"
#include "common/work_queue.h"
#include "crypto/secure_heap.h"
#include "hub/access_policies.h"
#include "hub/consumer_groups.h"
#include "hub/device_auth.h"
#include "hub/hub_keys.h"
#include "hub/encryption_settings.h"
#include "hub/key_custody.h"
#include "hub/key_monitor.h"
#include "hub/quotas.h"
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

// PUT /$coffre/encryption (hubapi/encryption_api.h), whose work may wait for the vault.
bool IsEncryptionPath(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  return path == "/$coffre/encryption" || path == "/%24coffre/encryption";
}

}  // namespace

bool OpenSslWipesOnFree();  // wipe_on_free.cc

int main(int argc, char** argv) {
  ::umask(077);  // every file and directory the hub creates is its own: 0600 / 0700
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
  mqtt::MqttServerOptions mqtt_options;
  hub::QuotaOptions quota_options;
  int64_t connect_timeout_ms = mqtt_options.connect.deadline.count();
  int64_t d2c_max_delay_ms = mqtt_options.d2c_max_delay.count();
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
  app.add_option("--mqtt-connect-timeout-ms", connect_timeout_ms,
                 "MQTT (and MQTT over WebSocket): time from accept to an accepted CONNECT, TLS "
                 "handshake included (default 10000)")
      ->check(CLI::Range(int64_t{100}, int64_t{600'000}));
  app.add_option("--mqtt-max-unauthenticated", mqtt_options.connect.max_unauthenticated,
                 "MQTT connections without an accepted CONNECT at once; more are closed at accept")
      ->check(CLI::Range(size_t{1}, size_t{1'000'000}));
  app.add_option("--mqtt-max-unauthenticated-per-source",
                 mqtt_options.connect.max_unauthenticated_per_source,
                 "the same, per source IP address (default 100)")
      ->check(CLI::Range(size_t{1}, size_t{1'000'000}));
  app.add_option("--mqtt-failed-connects-per-second",
                 mqtt_options.connect.failed_auth_per_source.per_second,
                 "refused CONNECTs per source IP address and second; past the burst, CONNACK 3 "
                 "without checking credentials (0: no limit)")
      ->check(CLI::Range(0.0, 1e6));
  app.add_option("--mqtt-failed-connects-burst", mqtt_options.connect.failed_auth_per_source.burst,
                 "refused CONNECTs a source may make at once (default 200)")
      ->check(CLI::Range(1.0, 1e9));
  app.add_option("--d2c-per-second", quota_options.d2c_sends.per_second,
                 "hub-wide device-to-cloud messages per second, all protocols (0: no limit)")
      ->check(CLI::Range(0.0, 1e9));
  app.add_option("--d2c-burst", quota_options.d2c_sends.burst,
                 "device-to-cloud messages absorbed at once above the rate")
      ->check(CLI::Range(1.0, 1e9));
  app.add_option("--mqtt-d2c-max-delay-ms", d2c_max_delay_ms,
                 "over the d2c quota, how long an MQTT message may wait before its connection "
                 "is closed (default 10000)")
      ->check(CLI::Range(int64_t{0}, int64_t{600'000}));
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
  mqtt_options.connect.deadline = std::chrono::milliseconds(connect_timeout_ms);
  mqtt_options.d2c_max_delay = std::chrono::milliseconds(d2c_max_delay_ms);

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
  hub::Registry registry(**kv, **keys, SystemClock());

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
  auto policies = hub::AccessPolicies::Open(**kv, **keys, host_names, SystemClock());
  if (!policies.has_value()) return Fail(policies.error());
  // Devices and modules with their own keys, or DeviceConnect policy tokens (gateways).
  hub::DeviceAuthenticator auth(registry, **policies, host_names, SystemClock());
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
    (*store)->WakeWaiters();  // long polls answer now, with the refusal
    std::lock_guard<std::mutex> guard(mqtt_for_monitor_mu);
    if (mqtt_for_monitor != nullptr) mqtt_for_monitor->CloseAll();
  });

  hub::Quotas quotas(quota_options);  // shared by the device protocols
  auto mqtt_endpoint = Endpoint(mqtt_listen);
  if (!mqtt_endpoint.has_value()) return Fail(mqtt_endpoint.error());
  std::tie(mqtt_options.address, mqtt_options.port) = *mqtt_endpoint;
  mqtt_options.cert_file = tls_cert;
  mqtt_options.key_file = tls_key;
  auto mqtt_server = mqtt::MqttServer::Start(mqtt_options, auth, ingest, registry, &quotas);
  if (!mqtt_server.has_value()) return Fail(mqtt_server.error());
  {
    std::lock_guard<std::mutex> guard(mqtt_for_monitor_mu);
    mqtt_for_monitor = mqtt_server->get();
  }

  hubapi::HttpThrottle throttle(throttling);
  hubapi::ServiceApi service_api(registry, **policies);
  service_api.set_throttle(&throttle);
  auto groups = hub::ConsumerGroups::Open(**kv, **keys, partitions, SystemClock());
  if (!groups.has_value()) return Fail(groups.error());
  hubapi::EncryptionApi encryption_api(monitor, **config, custody, **keys, **policies);
  hubapi::ReadApi read_api(**store, **groups, **policies,
                           [&] { return encryption_api.RefuseIfInaccessible(); });
  hubapi::DeviceApi device_api(auth, ingest, &quotas);
  hubapi::KeyEventsApi key_events_api(monitor, **config, SystemClock());
  net::HttpsServerOptions https_options;
  auto https_endpoint = Endpoint(https_listen);
  if (!https_endpoint.has_value()) return Fail(https_endpoint.error());
  std::tie(https_options.address, https_options.port) = *https_endpoint;
  https_options.cert_file = tls_cert;
  https_options.key_file = tls_key;
  https_options.error_response = [](unsigned status, std::string_view message) {
    const char* code = status == 413   ? "MessageTooLarge"
                       : status == 500 ? "ServerError"
                       : status == 503 ? "ServiceUnavailable"
                                       : "ArgumentInvalid";
    return hubapi::ServiceApi::Error(status, code, message);
  };
  https_options.upgrade_path = mqtt::kWebSocketPath;
  https_options.on_upgrade = (*mqtt_server)->WebSocketHandler();
  // Changing the customer key makes vault round trips and synced writes, and registry and
  // checkpoint changes (PUT, DELETE) make synced writes: each on a worker, off the io threads.
  WorkQueue key_changes("https");
  WorkQueue store_writes("https-writes", 256);
  auto sync_routes = [&](const net::HttpRequest& r) -> std::optional<net::HttpResponse> {
    if (auto response = encryption_api.Handle(r)) return response;
    if (auto response = key_events_api.Handle(r)) return response;  // also while Inaccessible
    if (auto refusal = encryption_api.RefuseIfInaccessible()) return refusal;
    return service_api.Handle(r);
  };
  auto route = [&](const net::HttpRequest& r, const net::HttpResponder& respond) {
    if (auto response = sync_routes(r)) return respond.Send(std::move(*response));
    if (read_api.Handle(r, respond)) return;
    if (device_api.Handle(r, respond)) return;
    respond.Send(hubapi::ServiceApi::Error(404, "NotFound", "No such path: " + r.target));
  };
  // The read API's long polls and the device API's durability waits answer later, from other
  // threads: no io thread waits for them.
  auto https_server = net::HttpsServer::Start(https_options, [&](net::HttpRequest r,
                                                                 net::HttpResponder respond) {
    // A source that keeps sending refused credentials is turned away before they are checked;
    // every 401 it is answered counts against it.
    if (auto throttled = throttle.RefuseSource(r)) return respond.Send(std::move(*throttled));
    net::HttpRequest source;
    source.remote_address = r.remote_address;
    respond = respond.Tapped([&throttle, source](const net::HttpResponse& out) {
      throttle.Observe(source, out);
    });
    if (r.method == "PUT" && IsEncryptionPath(r.target)) {
      bool queued = key_changes.Post([&encryption_api, r, respond] {
        respond.Send(encryption_api.Handle(r).value());
      });
      if (!queued) {
        respond.Send(hubapi::ServiceApi::Error(503, "ServiceUnavailable",
                                               "Too many encryption changes are waiting."));
      }
      return;
    }
    if (r.method == "PUT" || r.method == "DELETE") {
      if (!store_writes.Post([&route, r, respond] { route(r, respond); })) {
        respond.Send(hubapi::ServiceApi::Error(503, "ServiceUnavailable",
                                               "Too many registry changes are waiting."));
      }
      return;
    }
    route(r, respond);
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
  key_changes.Stop();
  (*mqtt_server)->Stop();
  ingest.Stop();  // its last completions post to the servers' io contexts, stopped but alive
  return 0;
}
