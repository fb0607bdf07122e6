#pragma once
// HubService: one running IoT hub. It owns and wires the hub's parts (the service key, the
// metadata store, encryption settings, key custody and the hub's keys, registry, telemetry store
// and ingest, access policies, device authentication, consumer groups, the key monitor, quotas,
// the MQTT server and the HTTPS port with its routes and work queues), starts them in a stated
// order and stops them in the reverse one. coffre-hub parses flags and runs one; tests start one
// in-process on port 0.
//
// Start order (each part needs only those before it; no socket is open until the data is):
//   1. service key, data directory, metadata store (RocksDB under the service key, or
//      PostgreSQL in cluster mode: hubservice/hub_data_store.h)
//   2. encryption settings, key custody, the hub's keys (opened locked if the vault refuses)
//   3. registry, telemetry store, ingest, access policies, authenticator, consumer groups,
//      the local stack's connection strings
//   4. key monitor (built, not running), quotas, the MQTT server, the AMQP server
//   5. routes (APIs, work queues), then the HTTPS server, whose WebSocket upgrades go to the
//      MQTT or the AMQP server by their subprotocol
//   6. the key monitor: one check now (the status is right from the first request), then its
//      thread
// The monitor, once Inaccessible, closes the MQTT and AMQP servers' connections: the server exists
// before the monitor can fire, and the monitor stops before the server does, so the monitor
// reaches it without a lock (the cycle main.cc broke with a raw pointer and a mutex).
//
// Stop order: the key monitor (no more callbacks into the servers), the HTTPS server (no new
// requests), the routes' work queues, the MQTT and AMQP servers, and last the ingest, whose final
// completions post to the servers' io contexts: stopped, but alive until the destructor.

#include <memory>
#include <string>

#include "amqp/server.h"
#include "common/metrics/registry.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "crypto/secret_bytes.h"
#include "hub/access_policies.h"
#include "hub/c2d_queues.h"
#include "hub/method_calls.h"
#include "hub/twins.h"
#include "hub/consumer_groups.h"
#include "hub/device_auth.h"
#include "hub/device_connections.h"
#include "hub/encryption_settings.h"
#include "hub/hub_backups.h"
#include "hub/hub_keys.h"
#include "hub/hub_metrics.h"
#include "hub/key_custody.h"
#include "hub/key_monitor.h"
#include "hub/quotas.h"
#include "hub/registry.h"
#include "hub/telemetry_ingest.h"
#include "hub/telemetry_store.h"
#include "hubservice/hub_data_store.h"
#include "hubservice/hub_options.h"
#include "hubservice/ticket_key_rows.h"
#include "mqtt/server.h"
#include "net/https_server.h"
#include "net/server_certificates.h"

namespace coffre::hubservice {

class ClusterErasures;
class ClusterForwarding;
class ClusterReceivers;
class ClusterSessions;
class HubDeviceFeatures;
class HubRoutes;
class StatusBoard;

class HubService {
 public:
  // A running hub, or why it could not start (everything started so far is stopped again).
  static Result<std::unique_ptr<HubService>> Start(HubOptions options);
  ~HubService();  // Stop()
  HubService(const HubService&) = delete;
  HubService& operator=(const HubService&) = delete;

  // In the order stated above; idempotent.
  void Stop();

  uint16_t mqtt_port() const { return mqtt_->port(); }
  uint16_t https_port() const { return https_->port(); }
  uint16_t amqp_port() const { return amqp_->port(); }
  // Reads the TLS certificate and key files again (SIGHUP): new connections get the new pair if
  // it loads and matches; on error the pair in use stays.
  Status ReloadCertificates();
  const net::ServerCertificates& certificates() const { return *certificates_; }
  // "listening on mqtts://... and https://..., customer key ...": the line coffre-hub prints.
  std::string Describe() const;

  // The parts, for tests and tools in the same process.
  hub::Registry& registry() { return *registry_; }
  hub::TelemetryStore& store() { return *store_; }
  // Where telemetry goes in: its writers own the partitions (the store's one writer each).
  hub::TelemetryIngest& ingest() { return *ingest_; }
  hub::HubKeys& keys() { return *keys_; }
  hub::HubBackups& backups() { return *backups_; }
  hub::DeviceKeys& device_keys() { return *device_keys_; }
  storage::KvStore& kv() { return data_->kv(); }  // the metadata store
  hub::AccessPolicies& policies() { return *policies_; }
  hub::Quotas& quotas() { return *quotas_; }
  // Cluster mode: connections across hub nodes (null in embedded mode).
  const ClusterSessions* cluster_sessions() const { return sessions_.get(); }
  const ClusterForwarding* cluster_forwarding() const { return forwarding_.get(); }
  hub::EncryptionConfig& config() { return *config_; }
  hub::KeyCustody& custody() { return *custody_; }
  hub::KeyMonitor& monitor() { return *monitor_; }
  mqtt::MqttServer& mqtt() { return *mqtt_; }
  amqp::AmqpServer& amqp() { return *amqp_; }
  // The HTTPS port's dispatcher without TLS or sockets (HubRoutes::Handle): what the HTTPS
  // server calls for each request, for in-process callers such as the routes fuzzer. `respond`
  // may be called later, from another thread.
  void HandleHttps(net::HttpRequest request, net::HttpResponder respond);
  // The hub's metrics (docs/METRICS.md), as GET /metrics renders them; render only while the hub
  // runs (the scrape-time ones read its parts).
  const metrics::Registry& metrics() const { return metrics_registry_; }

 private:
  explicit HubService(HubOptions options);
  Status OpenData();
  Status StartServers();
  Status CheckMetadata();  // the keys unlocked
  void OnKeyStatus(const hub::EncryptionStatus& status);
  // The metrics read at scrape time from the parts (hub_service_metrics.cc), once they exist.
  void AddScrapeMetrics();

  // Declared in start order: destroyed in the reverse one, after Stop().
  HubOptions options_;
  metrics::Registry metrics_registry_;
  hub::HubMetrics metrics_{metrics_registry_};
  UniqueFd dir_lock_;  // flock of DIR/.lock: one hub per data directory
  crypto::SecretBytes service_key_;
  std::unique_ptr<storage::DiskReserve> disk_reserve_;  // outlives data_ and the store
  std::unique_ptr<HubDataStore> data_;                  // the metadata store, telemetry's home
  std::unique_ptr<hub::EncryptionConfig> config_;
  std::unique_ptr<hub::KeyCustody> custody_;
  std::unique_ptr<hub::HubKeys> keys_;
  std::unique_ptr<hub::Registry> registry_;
  std::unique_ptr<hub::TelemetryStore> store_;
  std::unique_ptr<hub::TelemetryIngest> ingest_;
  std::unique_ptr<hub::HubBackups> backups_;
  std::unique_ptr<hub::AccessPolicies> policies_;
  std::unique_ptr<hub::DeviceAuthenticator> auth_;
  std::unique_ptr<hub::ConsumerGroups> groups_;
  std::unique_ptr<hub::KeyMonitor> monitor_;
  std::unique_ptr<hub::Quotas> quotas_;
  std::unique_ptr<hub::SealedRows> rows_;  // twins, C2D queues, device keys
  std::unique_ptr<hub::DeviceKeys> device_keys_;
  std::unique_ptr<ClusterErasures> erasures_;  // cluster mode: erasures reach every node
  std::unique_ptr<hub::TwinStore> twin_store_;
  std::unique_ptr<hub::Twins> twins_;
  std::unique_ptr<hub::C2dQueues> c2d_;
  std::unique_ptr<hub::MethodCalls> methods_;
  std::unique_ptr<HubDeviceFeatures> features_;
  std::unique_ptr<hub::DeviceConnections> connections_;  // one per identity, MQTT and AMQP
  std::unique_ptr<ClusterSessions> sessions_;  // cluster mode: one per identity across nodes
  std::shared_ptr<net::ServerCertificates> certificates_;  // of the three TLS ports
  // The TLS ticket keys of the MQTT, AMQP and HTTPS listeners, sealed in the metadata store.
  std::unique_ptr<TicketKeyRows> mqtt_tickets_, amqp_tickets_, https_tickets_;
  std::unique_ptr<mqtt::MqttServer> mqtt_;
  std::unique_ptr<amqp::AmqpServer> amqp_;
  class FrontEndMethods;
  std::unique_ptr<FrontEndMethods> method_sink_;  // MethodCalls' sink: MQTT, then AMQP
  // Cluster mode: methods and desired-property notifications to the node holding the device.
  std::unique_ptr<ClusterForwarding> forwarding_;
  // Cluster mode: Event Hubs epoch receivers across nodes (the AMQP server uses it).
  std::unique_ptr<ClusterReceivers> eh_receivers_;
  std::unique_ptr<StatusBoard> status_board_;  // the status page's samples
  std::unique_ptr<HubRoutes> routes_;
  std::unique_ptr<net::HttpsServer> https_;
  bool stopped_ = false;
};

}  // namespace coffre::hubservice
