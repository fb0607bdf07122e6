#include "hubservice/hub_service.h"

#include "hubservice/cluster_erasures.h"
#include "hubservice/cluster_forwarding.h"
#include "hubservice/cluster_receivers.h"
#include "hubservice/cluster_sessions.h"
#include "hubservice/service_key.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include <chrono>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/files.h"
#include "common/log.h"
#include "amqp/device_links.h"
#include "hubservice/bootstrap_files.h"
#include "hubservice/hub_device_features.h"
#include "hubservice/hub_restore.h"
#include "hubservice/hub_routes.h"
#include "hubservice/service_key.h"
#include "mqtt/websocket_path.h"
#include "net/http_upgrade.h"
#include "storage/file_cipher.h"

namespace coffre::hubservice {
namespace {

// Without a provider for customer keys, a customer-managed hub cannot open or be configured.
hub::KeyCustody::ProviderFactory CustomerKeysOrRefusal(hub::KeyCustody::ProviderFactory f) {
  if (f) return f;
  return [](const hub::EncryptionSettings&,
            std::chrono::milliseconds) -> Result<std::shared_ptr<crypto::KeyProvider>> {
    return FailedPrecondition("this hub was started without a provider for customer keys");
  };
}

}  // namespace

// A direct method goes to the identity's MQTT session if it has one subscribed, else to its AMQP
// methods link; in cluster mode, failing both, to the node holding the identity.
class HubService::FrontEndMethods final : public hub::MethodSink {
 public:
  FrontEndMethods(mqtt::MqttServer& mqtt, amqp::DeviceLinks& amqp) : mqtt_(mqtt), amqp_(amqp) {}
  bool DeliverMethod(const hub::TwinId& target, std::string_view name, std::string_view rid,
                     std::string_view payload) override {
    return mqtt_.DeliverMethod(target, name, rid, payload) ||
           amqp_.DeliverMethod(target, name, rid, payload);
  }
  bool HandOverMethod(const std::string& rid, const hub::MethodRequest& request) override {
    ClusterForwarding* forwarding = forwarding_.load();
    return forwarding != nullptr && forwarding->HandOverMethod(rid, request);
  }
  void SetForwarding(ClusterForwarding* forwarding) { forwarding_ = forwarding; }

 private:
  mqtt::MqttServer& mqtt_;
  amqp::DeviceLinks& amqp_;
  std::atomic<ClusterForwarding*> forwarding_{nullptr};  // cluster mode; cleared before it goes
};

HubService::HubService(HubOptions options) : options_(std::move(options)) {}

HubService::~HubService() { Stop(); }

Result<std::unique_ptr<HubService>> HubService::Start(HubOptions options) {
  if (options.host_names.empty()) return InvalidArgument("the hub needs a host name");
  // The tunables in the ranges a stored setting must have (check interval, grace period).
  COFFRE_RETURN_IF_ERROR(options.encryption.With(options.encryption.TunablesJson()).status());
  std::unique_ptr<HubService> hub(new HubService(std::move(options)));
  COFFRE_RETURN_IF_ERROR(hub->OpenData());
  COFFRE_RETURN_IF_ERROR(hub->StartServers());
  return hub;
}

// Steps 1 to 3 of the start order: the data, with no socket open.
Status HubService::OpenData() {
  const HubOptions& o = options_;
  COFFRE_ASSIGN_OR_RETURN(service_key_, OpenServiceKey(o.service_key_file, o.service_key_token));
  COFFRE_RETURN_IF_ERROR(EnsurePrivateDirectory(o.dir));
  // One hub per directory for the life of the process: a second one (a restore started beside a
  // running hub) would replace data the first still writes.
  std::filesystem::path lock_file = o.dir / ".lock";
  dir_lock_ = UniqueFd(::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!dir_lock_) return ErrnoStatus("opening " + lock_file.string(), errno);
  if (::flock(dir_lock_.get(), LOCK_EX | LOCK_NB) != 0) {
    return errno == EWOULDBLOCK
               ? FailedPrecondition(o.dir.string() + " is in use by another coffre-hub")
               : ErrnoStatus("locking " + lock_file.string(), errno);
  }
  disk_reserve_ = std::make_unique<storage::DiskReserve>(o.dir, o.disk_reserve_bytes);
  COFFRE_RETURN_IF_ERROR(FinishRestore(o.dir));
  if (!o.restore_from.empty() && !o.postgres_conninfo.empty()) {
    return FailedPrecondition("a backup restores into an embedded hub (no --postgres-conninfo); "
                              "restoring into a cluster store is not supported yet");
  }
  if (!o.restore_from.empty()) {
    COFFRE_RETURN_IF_ERROR(RestoreBackup(o, service_key_, disk_reserve_.get(),
                                         CustomerKeysOrRefusal(o.customer_keys))
                               .WithContext("restoring " + o.restore_from.string()));
  }
  COFFRE_ASSIGN_OR_RETURN(data_, HubDataStore::Open({o.dir, &service_key_, disk_reserve_.get(),
                                                      o.postgres_conninfo,
                                                      o.postgres_relaxed_durability,
                                                      o.telemetry.partitions,
                                                      o.host_names.front(),
                                                      o.partition_clusters}));

  // Stored settings (coffre hub encryption set) win over the options, which seed a new hub.
  COFFRE_ASSIGN_OR_RETURN(config_, hub::EncryptionConfig::Load(kv(), o.encryption));
  hub::EncryptionSettings settings = config_->Get();
  if (settings.key_events_secret_file.empty() && !o.encryption.key_events_secret_file.empty()) {
    // A hub made before it subscribed to key events takes the option's secret file.
    settings.key_events_secret_file = o.encryption.key_events_secret_file;
    COFFRE_RETURN_IF_ERROR(config_->Set(settings));
  }
  if (!settings.customer_managed()) {
    LogLine("keys",
            "warning: service-managed keys: no customer-managed key protects this hub's "
            "data (turn one on with `coffre hub encryption set --key-uri`)");
  }
  custody_ = std::make_unique<hub::KeyCustody>(*config_, service_key_, o.dir,
                                               CustomerKeysOrRefusal(o.customer_keys));
  Status locked_because;
  auto keys = custody_->Open(kv(), &locked_because);
  if (!keys.has_value()) return keys.error().WithContext("unwrapping the hub root key");
  keys_ = std::move(*keys);
  // Cluster mode: this node's writes go to its own shard of the metadata digests.
  if (data_->clustered()) keys_->row_digests().UseShard(data_->node_id());
  if (keys_->locked()) {
    // An existing hub whose vault cannot be reached, or refuses, starts Inaccessible and
    // recovers by itself once the key can be used.
    LogLine("keys", "starting Inaccessible: the customer-managed key " + settings.key_uri +
                        " cannot be used (" + locked_because.message() + ")");
  }

  registry_ = std::make_unique<hub::Registry>(kv(), *keys_, SystemClock());
  rows_ = std::make_unique<hub::SealedRows>(kv(), *keys_);
  device_keys_ = std::make_unique<hub::DeviceKeys>(*keys_, *rows_, SystemClock(),
                                                   [data = data_.get()] { return data->DestroyDeletedData(); });
  if (data_->clustered()) {
    COFFRE_ASSIGN_OR_RETURN(erasures_,
                            ClusterErasures::Start(data_->link(), *keys_, *device_keys_));
  }
  if (!keys_->locked()) COFFRE_RETURN_IF_ERROR(CheckMetadata());
  hub::TelemetryStoreOptions telemetry = o.telemetry;
  telemetry.device_keys = device_keys_.get();
  telemetry.hub_name = o.host_names.front();
  telemetry.log.service_key = &service_key_;
  telemetry.log.reserve = disk_reserve_.get();
  data_->ConfigureTelemetry(telemetry);
  COFFRE_ASSIGN_OR_RETURN(store_,
                          hub::TelemetryStore::Open(o.dir / "telemetry", *keys_, kv(), telemetry));
  hub::IngestOptions ingest = o.ingest;
  // A commit to PostgreSQL waits on the network and a standby, not on this machine's cores: a
  // writer per partition keeps every partition's group commit going at once.
  if (data_->clustered() && ingest.writers == 0) ingest.writers = telemetry.partitions;
  ingest.metrics = &metrics_;
  ingest_ = std::make_unique<hub::TelemetryIngest>(*store_, ingest);
  backups_ = std::make_unique<hub::HubBackups>(
      kv(), *keys_, *store_, o.host_names.front(), o.dir / "backups", disk_reserve_.get(),
      SystemClock(), [data = data_.get()] { return data->DestroyDeletedData(); });
  COFFRE_ASSIGN_OR_RETURN(policies_,
                          hub::AccessPolicies::Open(kv(), *keys_, o.host_names, SystemClock()));
  policies_->CountRefusalsIn(&metrics_);
  // Devices and modules with their own keys, or DeviceConnect policy tokens (gateways).
  auth_ =
      std::make_unique<hub::DeviceAuthenticator>(*registry_, *policies_, o.host_names, SystemClock());
  auth_->CountRefusalsIn(&metrics_);
  COFFRE_ASSIGN_OR_RETURN(groups_,
                          hub::ConsumerGroups::Open(kv(), *keys_, telemetry.partitions, SystemClock()));
  // The local stack's connection strings need the keys; a locked start keeps the last ones.
  if (!keys_->locked()) {
    const std::string& host = o.host_names.front();
    COFFRE_RETURN_IF_ERROR(WriteOwnerConnectionString(*policies_, host, o.dir / "bootstrap"));
    for (const std::string& id : o.bootstrap_devices) {
      COFFRE_RETURN_IF_ERROR(BootstrapDevice(*registry_, id, host, o.dir / "bootstrap"));
    }
  }
  return Status::Ok();
}

// Steps 4 to 6 of the start order.
Status HubService::StartServers() {
  const HubOptions& o = options_;
  hub::EncryptionSettings settings = config_->Get();
  hub::KeyMonitorOptions monitor_options;
  monitor_options.key_uri = settings.key_uri;
  monitor_options.interval = std::chrono::milliseconds(settings.key_check_interval_ms);
  monitor_options.grace = std::chrono::seconds(settings.vault_grace_s);
  monitor_options.expired_is_inaccessible = settings.expired_is_inaccessible;
  monitor_options.metrics = &metrics_;
  monitor_ =
      std::make_unique<hub::KeyMonitor>(*keys_, custody_->checker(), monitor_options,
                                        [this](const hub::EncryptionStatus& s) { OnKeyStatus(s); });

  quotas_ = std::make_unique<hub::Quotas>(o.quotas);
  twin_store_ = std::make_unique<hub::TwinStore>(*rows_, SystemClock());
  twins_ = std::make_unique<hub::Twins>(*registry_, *twin_store_, SystemClock());
  c2d_ = std::make_unique<hub::C2dQueues>(*rows_, SystemClock(), hub::C2dLimits{}, data_->node_id());
  twins_->CountC2dIn(*c2d_);
  methods_ = std::make_unique<hub::MethodCalls>();
  features_ = std::make_unique<HubDeviceFeatures>(*registry_, *twins_, *methods_, *c2d_);
  // One certificate pair for the three TLS ports, reloaded on change or ReloadCertificates().
  COFFRE_ASSIGN_OR_RETURN(certificates_, net::ServerCertificates::Load(o.tls_cert, o.tls_key));
  if (o.certificate_check_period.count() > 0) certificates_->Watch(o.certificate_check_period);
  mqtt::MqttServerOptions mqtt_options = o.mqtt;
  mqtt_options.certificates = certificates_;
  mqtt_options.features = features_.get();
  connections_ = std::make_unique<hub::DeviceConnections>();
  if (data_->clustered()) {
    COFFRE_ASSIGN_OR_RETURN(sessions_,
                            ClusterSessions::Start(data_->link(), *keys_, *connections_,
                                                   *registry_));
  }
  mqtt_options.connections = connections_.get();
  mqtt_tickets_ = std::make_unique<TicketKeyRows>(kv(), *keys_, "mqtt");
  mqtt_options.ticket_keys = mqtt_tickets_.get();
  mqtt_options.metrics = &metrics_;
  COFFRE_ASSIGN_OR_RETURN(
      mqtt_, mqtt::MqttServer::Start(mqtt_options, *auth_, *ingest_, *registry_, quotas_.get()));

  amqp::AmqpServerOptions amqp_options = o.amqp;
  amqp_options.certificates = certificates_;
  amqp_options.accessible = [this] { return monitor_->accessible(); };
  amqp_tickets_ = std::make_unique<TicketKeyRows>(kv(), *keys_, "amqp");
  amqp_options.ticket_keys = amqp_tickets_.get();
  Result<hub::ConsumerGroup> default_group = groups_->Get(std::string(hub::kDefaultConsumerGroup));
  const std::string& host = o.host_names.front();
  amqp::HubParts amqp_parts{*policies_, *auth_, *registry_, *store_, *groups_, *ingest_,
                            SystemClock(), o.host_names, host.substr(0, host.find('.')),
                            default_group.has_value() ? default_group->created_ms : 0};
  amqp_parts.c2d = c2d_.get();
  amqp_parts.features = features_.get();
  amqp_parts.quotas = quotas_.get();
  amqp_parts.connections = connections_.get();
  amqp_parts.metrics = &metrics_;
  if (data_->clustered()) {
    COFFRE_ASSIGN_OR_RETURN(eh_receivers_,
                            ClusterReceivers::Start(data_->link(), kv(), *keys_));
    amqp_parts.epochs_elsewhere = eh_receivers_.get();
  }
  COFFRE_ASSIGN_OR_RETURN(amqp_, amqp::AmqpServer::Start(amqp_options, std::move(amqp_parts)));
  if (eh_receivers_) eh_receivers_->SetReceivers(&amqp_->event_hub_receivers());
  // Hub-to-device traffic goes to the device's MQTT session or AMQP links, whichever it has.
  method_sink_ = std::make_unique<FrontEndMethods>(*mqtt_, amqp_->device_links());
  methods_->SetSink(*method_sink_);
  auto send_desired_here = [this](const hub::TwinId& id, const std::string& text, int64_t version) {
    mqtt_->SendDesired(id, text, version);
    amqp_->device_links().SendDesired(id, text);
  };
  if (sessions_) {
    COFFRE_ASSIGN_OR_RETURN(forwarding_,
                            ClusterForwarding::Start({data_->link(), kv(), *keys_, *sessions_,
                                                      *methods_, send_desired_here}));
    method_sink_->SetForwarding(forwarding_.get());
  }
  twins_->SetDesiredListener([this, send_desired_here](const hub::TwinId& id,
                                                       const nlohmann::json& patch, int64_t version) {
    nlohmann::json told = patch;
    told["$version"] = version;
    std::string text = told.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    send_desired_here(id, text, version);
    if (forwarding_) forwarding_->DesiredChanged(id, text, version);
  });
  auto c2d_waiting = [this](const std::string& device_id) {
    mqtt_->C2dWaiting(device_id);
    amqp_->device_links().C2dWaiting(device_id);
  };
  if (sessions_) {
    sessions_->SetC2dWaiting(c2d_waiting);  // queued on another node
    // The nodes together allow the hub's budgets, not each node all of them.
    sessions_->SetLiveNodesCounted([quotas = quotas_.get()](size_t nodes) {
      quotas->ShareAmong(nodes);
    });
  }
  c2d_->SetArrivalListener([this, c2d_waiting](const std::string& device_id) {
    c2d_waiting(device_id);
    if (sessions_) sessions_->C2dQueued(device_id);
  });
  if (!keys_->locked()) {
    COFFRE_RETURN_IF_ERROR(WriteEventHubConnectionString(
        *policies_, host, amqp_->port(), host.substr(0, host.find('.')), o.dir / "bootstrap"));
  }

  status_board_ = std::make_unique<StatusBoard>(StatusSources{
      *monitor_, *config_, metrics_, *store_, host,
      [this] { return https_ ? https_->connections() : size_t{0}; }});
  routes_ = std::make_unique<HubRoutes>(
      HubParts{*registry_, *policies_, *store_, *groups_, *auth_, *ingest_, *quotas_, *monitor_,
               *config_, *custody_, *keys_, *twins_, *methods_, *c2d_, *disk_reserve_,
               *twin_store_, *device_keys_, *backups_, kv(), metrics_, *status_board_,
               data_->other_nodes()},
      o.throttling, SystemClock(), o.metrics_open);
  net::HttpsServerOptions https_options = o.https;
  https_options.certificates = certificates_;
  https_options.error_response = &HubRoutes::ServerError;
  https_tickets_ = std::make_unique<TicketKeyRows>(kv(), *keys_, "https");
  https_options.ticket_keys = https_tickets_.get();
  // WebSocket upgrades: /$iothub/websocket carries MQTT or AMQP, chosen by the subprotocol the
  // client offers; /$servicebus/websocket carries AMQP (the Event Hubs SDK).
  https_options.upgrade_paths = {std::string(mqtt::kWebSocketPath),
                                 std::string(amqp::kServiceBusWebSocketPath)};
  https_options.on_upgrade = [this](std::unique_ptr<net::HttpUpgrade> upgrade) {
    if (net::OffersSubprotocol(upgrade->request, amqp::kWebSocketSubprotocol)) {
      amqp_->AcceptWebSocket(std::move(upgrade));
    } else {
      mqtt_->AcceptWebSocket(std::move(upgrade));
    }
  };
  COFFRE_ASSIGN_OR_RETURN(
      https_, net::HttpsServer::Start(https_options,
                                      [this](net::HttpRequest r, net::HttpResponder respond) {
                                        routes_->Handle(std::move(r), std::move(respond));
                                      }));

  AddScrapeMetrics();
  monitor_->CheckNow();  // the status is right from the first request on
  if (o.key_monitor_thread) monitor_->Start();
  if (o.key_monitor_thread) status_board_->Start();  // with the monitor: tests drive both
  return Status::Ok();
}

void HubService::HandleHttps(net::HttpRequest request, net::HttpResponder respond) {
  routes_->Handle(std::move(request), std::move(respond));
}

// Needs the keys: rows put back from older copies are reported (once per process; `coffre hub
// verify` checks again), and an erasure cut short by a crash is finished.
Status HubService::CheckMetadata() {
  COFFRE_RETURN_IF_ERROR(keys_->row_digests().Check().status());
  return device_keys_->FinishErasures();
}

void HubService::OnKeyStatus(const hub::EncryptionStatus& s) {
  if (status_board_) status_board_->KeyChanged(s);
  std::string key = config_->Get().key_uri;
  if (s.accessible) {
    LogLine("keys", "the customer-managed key " + key + " is usable again: serving");
    // Ticket keys made while the key was not usable (a start while Inaccessible) are kept now.
    for (TicketKeyRows* rows : {mqtt_tickets_.get(), amqp_tickets_.get(), https_tickets_.get()}) {
      if (rows != nullptr) rows->SavePending();
    }
    // What a start while Inaccessible could not do.
    if (Status checked = CheckMetadata(); !checked.ok()) {
      LogLine("integrity", "could not check the metadata: " + checked.message());
    }
    return;
  }
  LogLine(LogLevel::kWarning, "keys", "the customer-managed key " + key + " is inaccessible (" + s.reason + ": " +
                      s.detail + "): keys zeroized, closing device connections");
  store_->WakeWaiters();  // long polls answer now, with the refusal
  if (mqtt_) mqtt_->CloseAll();
  if (amqp_) amqp_->CloseAll("The IoT hub is unavailable: its customer-managed key is inaccessible.");
}

void HubService::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (monitor_) monitor_->Stop();
  if (status_board_) status_board_->Stop();
  if (https_) https_->Stop();
  if (routes_) routes_->Stop();
  if (backups_) backups_->Stop();  // a backup in progress fails; its file goes
  // Calls still waiting end (503) before the sessions that would answer them go.
  if (methods_) methods_->Stop();
  if (method_sink_) method_sink_->SetForwarding(nullptr);
  forwarding_.reset();  // its hand-offs still arriving are dropped; calls handed here end there
  if (features_) features_->Stop();
  if (mqtt_) mqtt_->Stop();
  if (eh_receivers_) eh_receivers_->SetReceivers(nullptr);
  if (amqp_) amqp_->Stop();
  eh_receivers_.reset();
  sessions_.reset();  // once no connection takes an identity any more (its observer goes)
  if (ingest_) ingest_->Stop();
}

Status HubService::ReloadCertificates() { return certificates_->Reload(); }

std::string HubService::Describe() const {
  return "listening on mqtts://" + options_.mqtt.address + ":" + std::to_string(mqtt_->port()) +
         ", amqps://" + options_.amqp.address + ":" + std::to_string(amqp_->port()) +
         " and https://" + options_.https.address + ":" + std::to_string(https_->port()) +
         " (pid " + std::to_string(::getpid()) + "), customer key " + keys_->wrapped_root().key_id +
         ", checked every " + std::to_string(config_->Get().key_check_interval_ms) + " ms";
}

}  // namespace coffre::hubservice
