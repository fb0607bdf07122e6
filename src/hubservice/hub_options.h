#pragma once
// HubOptions: everything coffre-hub's flags decide, as one plain struct that HubService takes.
// Tests fill it in directly (port 0 for any free port).

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "amqp/server.h"
#include "hub/encryption_settings.h"
#include "hub/key_custody.h"
#include "hub/quotas.h"
#include "hub/telemetry_ingest.h"
#include "hub/telemetry_store.h"
#include "hubservice/partition_clusters.h"
#include "hubservice/service_key.h"
#include "hubapi/http_throttle.h"
#include "mqtt/server.h"
#include "net/https_server.h"

namespace coffre::hubservice {

struct HubOptions {
  std::filesystem::path dir;                            // the hub's data (created, mode 0700)
  // Free space kept on the data's disk: writes that would use it are refused (devices are not
  // acknowledged) until space returns (storage/disk_reserve.h). 0: none.
  uint64_t disk_reserve_bytes = uint64_t{64} << 20;
  std::filesystem::path service_key_file;               // created if missing
  // Set: the service key in that file is sealed by a key on this PKCS#11 token
  // (hubservice/service_key.h).
  std::optional<ServiceKeyToken> service_key_token;
  std::filesystem::path tls_cert, tls_key;              // PEM, for MQTT and HTTPS alike
  // How often the TLS files are looked at: a changed pair is reloaded (0: only on
  // HubService::ReloadCertificates, coffre-hub's SIGHUP).
  std::chrono::milliseconds certificate_check_period{2000};
  std::vector<std::string> host_names = {"localhost"};  // SAS audiences; the first names the hub
  // A backup to restore into `dir` before the hub starts (hubservice/hub_restore.h); empty:
  // none. `restore_discard_current`: data in `dir` that cannot be opened, or another hub's, is
  // replaced (else the restore is refused: its erasures could not be carried over).
  std::filesystem::path restore_from;
  bool restore_discard_current = false;
  // Cluster mode: the metadata and telemetry in PostgreSQL at this libpq connection string
  // (several hosts: the one that takes writes; hubservice/hub_data_store.h). Empty: embedded,
  // in `dir`. The server must commit to a synchronous standby, unless
  // `postgres_relaxed_durability` (a single server: trials and tests; logged as a warning).
  std::string postgres_conninfo;
  bool postgres_relaxed_durability = false;
  // Cluster mode: telemetry partitions kept in PostgreSQL clusters of their own (the rest, and
  // all metadata, in the main store above); checked at start against the store's recorded map
  // (hubservice/partition_clusters.h, docs/CLUSTER.md).
  std::vector<PartitionCluster> partition_clusters;
  // Devices created if missing; their connection strings go to DIR/bootstrap/ (mode 0600).
  std::vector<std::string> bootstrap_devices;

  // Seeds a new hub's encryption settings; a hub's stored settings win (coffre hub encryption
  // set), except a key events secret file that the stored ones lack.
  hub::EncryptionSettings encryption;
  // False: the customer key is checked only when something calls KeyMonitor::CheckNow (tests that
  // drive the checks themselves); coffre-hub's monitor always runs.
  bool key_monitor_thread = true;
  // The provider of a customer key (a vault client): from apps, since hub has no sockets.
  // Null: a customer-managed key is refused (tests of service-managed hubs).
  hub::KeyCustody::ProviderFactory customer_keys;

  // hub_name and the service key are filled in by HubService; partitions is fixed at creation.
  hub::TelemetryStoreOptions telemetry;
  hub::IngestOptions ingest;
  hub::QuotaOptions quotas;  // shared by the device protocols
  // cert_file and key_file come from tls_cert and tls_key.
  mqtt::MqttServerOptions mqtt;
  // address, port (0: any free port; coffre-hub sets 5671) and threads; cert, key and
  // accessibility are set by HubService.
  amqp::AmqpServerOptions amqp;
  // address, port, threads and deadlines; cert, key, errors and upgrades are set by HubService.
  net::HttpsServerOptions https;
  hubapi::HttpThrottleOptions throttling;
  // GET /metrics on the HTTPS port without credentials (for a Prometheus scraper on a network
  // the operator trusts; hubapi/metrics_api.h). False: a ServiceConnect policy's SAS token.
  bool metrics_open = false;
};

}  // namespace coffre::hubservice
