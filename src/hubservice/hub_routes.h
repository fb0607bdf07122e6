#pragma once
// HubRoutes: the hub's HTTPS port behind the TLS server. It owns the APIs (encryption, key
// events, service, twins and methods, query, C2D, read, device, verify, storage, erasures,
// backups), the throttle and the two work queues, and dispatches each request: health probes
// (/healthz, /readyz: net/health_probe.h) first, then throttled sources, then encryption and
// key events (also while Inaccessible), the Inaccessible refusal, the other APIs, else 404. Changing the
// customer key, synced writes (PUT, DELETE, twin PATCH, C2D) and verifications of the
// stored telemetry run on the work queues, off the io threads.
// Thread-safe once constructed; every part passed in must outlive it.

#include <optional>

#include "common/work_queue.h"
#include "hub/access_policies.h"
#include "hub/consumer_groups.h"
#include "hub/device_auth.h"
#include "hub/encryption_settings.h"
#include "hub/key_custody.h"
#include "hub/key_monitor.h"
#include "hub/quotas.h"
#include "hub/registry.h"
#include "hub/telemetry_ingest.h"
#include "hub/telemetry_store.h"
#include "hubapi/backup_api.h"
#include "hubapi/c2d_device_api.h"
#include "hubapi/c2d_service_api.h"
#include "hubapi/device_api.h"
#include "hubapi/erase_api.h"
#include "hubapi/encryption_api.h"
#include "hubapi/http_throttle.h"
#include "hubapi/key_events_api.h"
#include "hubapi/metrics_api.h"
#include "hubapi/status_page_api.h"
#include "hubservice/status_board.h"
#include "hubapi/query_api.h"
#include "hubapi/read_api.h"
#include "hubapi/service_api.h"
#include "hubapi/twin_api.h"
#include "hubapi/storage_api.h"
#include "hubapi/verify_api.h"
#include "net/https_server.h"

namespace coffre::hubservice {

struct HubParts {
  hub::Registry& registry;
  hub::AccessPolicies& policies;
  hub::TelemetryStore& store;
  hub::ConsumerGroups& groups;
  hub::DeviceAuthenticator& auth;
  hub::TelemetryIngest& ingest;
  hub::Quotas& quotas;
  hub::KeyMonitor& monitor;
  hub::EncryptionConfig& config;
  hub::KeyCustody& custody;
  hub::HubKeys& keys;
  hub::Twins& twins;
  hub::MethodCalls& methods;
  hub::C2dQueues& c2d;
  storage::DiskReserve& disk;
  hub::TwinStore& twin_store;
  hub::DeviceKeys& device_keys;
  hub::HubBackups& backups;
  storage::KvStore& metadata_store;
  hub::HubMetrics& metrics;
  StatusBoard& status_board;
  hub::OtherLiveNodes other_nodes;  // cluster mode: the other live hub nodes; null: none
};

class HubRoutes {
 public:
  // clock: the key events API's. metrics_open: GET /metrics without credentials
  // (hubapi/metrics_api.h).
  HubRoutes(const HubParts& parts, hubapi::HttpThrottleOptions throttling, const Clock& clock,
            bool metrics_open = false);
  ~HubRoutes();  // Stop()

  // HttpsServer's asynchronous handler.
  void Handle(net::HttpRequest request, net::HttpResponder respond);
  // Drops the queued work unrun (its responders answer nothing) after the running task; call
  // once the HTTPS server has stopped taking requests.
  void Stop();

  // HttpsServerOptions::error_response: the server's own refusals, in IoT Hub's error form.
  static net::HttpResponse ServerError(unsigned status, std::string_view message);

  // Tasks waiting in each work queue, by the queue's name: for the metrics.
  std::vector<std::pair<std::string, size_t>> QueuedWork() const;

 private:
  std::optional<net::HttpResponse> SyncRoutes(const net::HttpRequest& r);
  // Why the hub should get no traffic now (GET /readyz), empty when it serves.
  std::vector<std::string> NotReady();
  void Route(const net::HttpRequest& r, const net::HttpResponder& respond);

  HubParts parts_;
  hubapi::HttpThrottle throttle_;
  hubapi::ServiceApi service_api_;
  hubapi::EncryptionApi encryption_api_;
  hubapi::ReadApi read_api_;
  hubapi::DeviceApi device_api_;
  hubapi::KeyEventsApi key_events_api_;
  hubapi::TwinApi twin_api_;
  hubapi::QueryApi query_api_;
  hubapi::C2dDeviceApi c2d_device_api_;
  hubapi::C2dServiceApi c2d_service_api_;
  hubapi::VerifyApi verify_api_;
  hubapi::StorageApi storage_api_;
  hubapi::EraseApi erase_api_;
  hubapi::BackupApi backup_api_;
  hubapi::MetricsApi metrics_api_;
  hubapi::StatusPageApi status_page_api_;
  // Changing the customer key makes vault round trips and synced writes, and registry and
  // checkpoint changes (PUT, DELETE) make synced writes: each on a worker, off the io threads.
  WorkQueue key_changes_{"https"};
  WorkQueue verifications_{"https-verify", 4};  // each reads every stored record
  WorkQueue store_writes_{"https-writes", 256};
};

}  // namespace coffre::hubservice
