#include "vault/service/vault_service.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <set>

#include "common/files.h"
#include "common/metrics/build_info.h"
#include "common/metrics/registry.h"
#include "common/strings.h"
#include "common/work_queue.h"
#include "net/https_server.h"
#include "net/server_certificates.h"
#include "storage/rocks_kv_store.h"
#include "vault/api/access_control.h"
#include "vault/keys/key_backup.h"
#include "vault/audit/audit_log.h"
#include "vault/api/audit_request.h"
#include "vault/events/event_subscriptions.h"
#include "vault/keys/key_vault.h"
#include "vault/seal/master_key.h"
#include "vault/seal/master_key_file.h"
#include "vault/seal/master_lineage.h"
#include "vault/api/rest_api.h"
#include "vault/api/vault_metrics.h"
#include "vault/rotation/rotation_scheduler.h"
#include "vault/seal/sealed_store.h"
#include "vault/rotation/vault_clock.h"
#include "vault/events/webhook_delivery.h"

namespace coffre::vault {
namespace {

constexpr const char* kOwner = "owner";

Result<crypto::SecretBytes> OpenMasterKey(const VaultServiceOptions& options,
                                          const std::filesystem::path& file, bool fresh) {
  if (options.pkcs11.has_value()) {
    return fresh ? CreatePkcs11MasterKeyFile(file, *options.pkcs11)
                 : UnsealPkcs11MasterKey(file, *options.pkcs11);
  }
  return fresh ? CreateMasterKeyFile(file, options.passphrase)
               : UnsealMasterKey(file, options.passphrase);
}

// What GET /coffre/seal-status answers: how the master key is sealed, and its lineage id.
Result<nlohmann::json> SealStatus(const std::filesystem::path& file,
                                  const crypto::SecretBytes& master) {
  COFFRE_ASSIGN_OR_RETURN(MasterKeySealing sealing, ReadMasterKeySealing(file));
  COFFRE_ASSIGN_OR_RETURN(std::string lineage, MasterKeyLineage(master));
  bool token = sealing.kdf == kPkcs11Kdf;
  nlohmann::json status = {{"sealed", false},
                           {"method", token ? "pkcs11" : "passphrase"},
                           {"kdf", sealing.kdf},
                           {"lineage", lineage}};
  if (token) {
    status["token_label"] = sealing.token_label;
    status["key_label"] = sealing.key_label;
    status["mechanism"] = sealing.mechanism;
  }
  return status;
}

// POST /keys/{name}/create and /rotate: RSA key generation, seconds of CPU for a large key, is
// done on a worker so the io threads go on serving.
// Requests that generate a key or write the store (synced RocksDB writes): they run on a
// worker, off the io threads. Reads and the key operations (wrapKey, unwrapKey, sign, ...),
// which only compute, stay on them.
bool GeneratesKeyOrWrites(const net::HttpRequest& r) {
  if (r.method == "GET" || r.method == "HEAD") return false;
  if (r.method != "POST") return true;  // PUT, PATCH, DELETE
  std::string_view path = std::string_view(r.target).substr(0, r.target.find('?'));
  std::string last(path.substr(path.rfind('/') + 1));
  std::transform(last.begin(), last.end(), last.begin(), [](unsigned char c) { return std::tolower(c); });
  static const std::set<std::string, std::less<>> kComputeOnly = {
      "wrapkey", "unwrapkey", "encrypt", "decrypt", "sign", "verify", "backup"};
  return !kComputeOnly.contains(last);
}

// What the vault keeps anyway, read when GET /metrics asks.
void AddScrapeMetrics(metrics::Registry& registry, const AuditLog& audit) {
  metrics::AddBuildInfo(registry, "coffre_vault");
  registry.AddCallback("coffre_vault_audit_log_bytes",
                       "Size of the audit log's kept files, as far as written.",
                       metrics::MetricType::kGauge,
                       [&audit] { return static_cast<double>(audit.bytes()); });
  registry.AddCallback("coffre_vault_audit_entries_total",
                       "Entries chained into the audit log (dropped ones included).",
                       metrics::MetricType::kCounter,
                       [&audit] { return static_cast<double>(audit.count()); });
}

}  // namespace

struct VaultService::Impl {
  // The vault's metrics (docs/METRICS.md); outlive everything they read.
  metrics::Registry metrics_registry;
  VaultMetrics metrics{metrics_registry};
  // Free space kept on the vault's disk (16 MiB): key writes are refused before the store could
  // meet a full disk (storage/disk_reserve.h). Outlives kv.
  std::unique_ptr<storage::DiskReserve> reserve;
  std::unique_ptr<storage::RocksKvStore> kv;
  std::unique_ptr<SealedStore> store;
  std::unique_ptr<VaultClock> clock;
  std::unique_ptr<AuditLog> audit;  // outlives the server, whose threads append to it
  std::unique_ptr<RateLimiter> auth_failures;  // outlives the server too
  std::unique_ptr<EventSubscriptions> subscriptions;
  std::unique_ptr<WebhookDelivery> events;  // outlives access and vault, which publish to it
  std::unique_ptr<AccessControl> access;
  std::unique_ptr<KeyVault> vault;
  std::unique_ptr<RotationScheduler> scheduler;
  std::unique_ptr<KeyBackup> backup;
  std::unique_ptr<RestApi> api;
  std::atomic<RestApi*> api_ready{nullptr};
  WorkQueue store_writes{"vault"};  // outlives the server, whose handler posts to it
  std::shared_ptr<net::ServerCertificates> certificates;  // reloaded on change or SIGHUP
  std::unique_ptr<net::HttpsServer> server;
  std::string public_url;
  bool initialised_now = false;
};

VaultService::VaultService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
VaultService::~VaultService() { Stop(); }

uint16_t VaultService::port() const { return impl_->server->port(); }
const std::string& VaultService::public_url() const { return impl_->public_url; }
bool VaultService::initialised_now() const { return impl_->initialised_now; }
Status VaultService::ReloadCertificates() { return impl_->certificates->Reload(); }
std::string VaultService::certificate_subject() const { return impl_->certificates->subject(); }

void VaultService::Stop() {
  if (impl_ && impl_->scheduler) impl_->scheduler->Stop();
  if (impl_ && impl_->server) impl_->server->Stop();
  if (impl_) impl_->store_writes.Stop();
  if (impl_ && impl_->events) impl_->events->Stop();
}

Result<std::unique_ptr<VaultService>> VaultService::Start(const VaultServiceOptions& options) {
  if (options.retention_days < 7 || options.retention_days > 90) {
    return InvalidArgument("retention days must be between 7 and 90");
  }
  if (options.scheduler_period <= std::chrono::milliseconds(0)) {
    return InvalidArgument("the scheduler period must be positive");
  }
  auto impl = std::make_unique<Impl>();
  COFFRE_RETURN_IF_ERROR(EnsurePrivateDirectory(options.dir));
  std::filesystem::path master_file = options.dir / "master.json";
  bool fresh = !std::filesystem::exists(master_file);
  if (fresh && options.owner_token_file.empty()) {
    return InvalidArgument("a new vault needs --owner-token-file to write the owner's token to");
  }
  Result<crypto::SecretBytes> master = OpenMasterKey(options, master_file, fresh);
  if (!master.has_value()) return master.error();
  COFFRE_ASSIGN_OR_RETURN(impl->backup, KeyBackup::Create(*master));
  COFFRE_ASSIGN_OR_RETURN(nlohmann::json seal_status, SealStatus(master_file, *master));
  impl->reserve = std::make_unique<storage::DiskReserve>(options.dir, uint64_t{16} << 20);
  COFFRE_ASSIGN_OR_RETURN(impl->kv, storage::RocksKvStore::Open(options.dir / "db",
                                                                {nullptr, nullptr, impl->reserve.get()}));
  COFFRE_ASSIGN_OR_RETURN(impl->store, SealedStore::Open(*impl->kv, std::move(*master)));
  COFFRE_ASSIGN_OR_RETURN(impl->clock, VaultClock::Open(*impl->store));
  const Clock& now = *impl->clock;  // the vault's time: the system's plus the test offset
  COFFRE_ASSIGN_OR_RETURN(impl->subscriptions, EventSubscriptions::Open(*impl->store, now));
  impl->events = std::make_unique<WebhookDelivery>(*impl->subscriptions);
  impl->access = std::make_unique<AccessControl>(*impl->store, now, impl->events.get());
  COFFRE_ASSIGN_OR_RETURN(impl->audit,
                          AuditLog::Open(options.dir / "audit.log", *impl->store, options.audit));
  if (!options.auth_failure_limit.unlimited()) {
    impl->auth_failures = std::make_unique<RateLimiter>(options.auth_failure_limit);
  }

  VaultSettings settings{options.purge_protection, options.retention_days};
  Result<nlohmann::json> stored = impl->store->GetJson("vault/settings");
  if (stored.has_value()) {
    settings.purge_protection = stored->value("purge_protection", false);
    settings.retention_days = stored->value("retention_days", 90);
  } else if (stored.error().code() == StatusCode::kNotFound) {
    COFFRE_RETURN_IF_ERROR(impl->store->PutJson(
        "vault/settings", {{"purge_protection", settings.purge_protection},
                           {"retention_days", settings.retention_days}}));
    std::set<std::string> all(AllKeyPermissions().begin(), AllKeyPermissions().end());
    COFFRE_ASSIGN_OR_RETURN(PrincipalUpdate owner,
                            impl->access->SetPrincipal(kOwner, all, /*admin=*/true, true));
    std::string token = *owner.token + "\n";
    COFFRE_RETURN_IF_ERROR(WriteFileDurably(options.owner_token_file, AsBytes(token), 0600));
    impl->initialised_now = true;
  } else {
    return stored.error();
  }

  COFFRE_RETURN_IF_ERROR(KeyVault::MigrateKeyNames(*impl->store));
  storage::RocksKvStore* kv = impl->kv.get();
  impl->vault = std::make_unique<KeyVault>(*impl->store, settings, now,
                                            [kv] { return kv->DestroyDeletedData(); },
                                            impl->events.get());
  impl->scheduler = std::make_unique<RotationScheduler>(*impl->vault, impl->events.get(), now,
                                                        options.scheduler_period);

  net::HttpsServerOptions server_options;
  server_options.address = options.listen_address;
  server_options.port = options.port;
  COFFRE_ASSIGN_OR_RETURN(impl->certificates,
                          net::ServerCertificates::Load(options.tls_cert, options.tls_key));
  if (options.certificate_check_period.count() > 0) {
    impl->certificates->Watch(options.certificate_check_period);
  }
  server_options.certificates = impl->certificates;
  server_options.threads = options.threads;
  server_options.error_response = [](unsigned status, std::string_view message) {
    const char* code = status == 413   ? "RequestTooLarge"
                       : status == 500 ? "InternalServerError"
                       : status == 503 ? "ServiceUnavailable"
                                       : "BadParameter";
    return RestApi::Error(status, code, message);
  };
  AuditLog* audit = impl->audit.get();
  VaultMetrics* counted = &impl->metrics;
  server_options.on_refused = [audit, counted](const net::HttpRequest& r,
                                               const net::HttpResponse& out) {
    audit->AppendUnauthenticated(DescribeRequest(r, "", out));
    counted->Request(OperationOf(r), out.status, std::chrono::steady_clock::now());
  };
  AddScrapeMetrics(impl->metrics_registry, *audit);
  // The API needs the public URL, which needs the bound port: the handler finds the API once
  // it is published, and answers 503 in the instant before.
  auto handler = [impl_ptr = impl.get()](net::HttpRequest r, net::HttpResponder respond) {
    RestApi* api = impl_ptr->api_ready.load(std::memory_order_acquire);
    if (api == nullptr) {
      net::HttpResponse starting =
          RestApi::Error(503, "ServiceUnavailable", "The vault is starting.");
      impl_ptr->audit->AppendUnauthenticated(DescribeRequest(r, "", starting));
      return respond.Send(std::move(starting));
    }
    if (!GeneratesKeyOrWrites(r)) return respond.Send(api->Handle(r));
    if (impl_ptr->store_writes.Post([api, r, respond] { respond.Send(api->Handle(r)); })) return;
    net::HttpResponse busy = RestApi::Error(429, "Throttled", "Too many key changes are waiting.");
    busy.headers.emplace_back("Retry-After", "1");
    impl_ptr->audit->AppendUnauthenticated(DescribeRequest(r, "", busy));
    respond.Send(std::move(busy));
  };
  COFFRE_ASSIGN_OR_RETURN(impl->server, net::HttpsServer::Start(server_options, handler));
  impl->public_url = options.public_url.empty()
                         ? "https://localhost:" + std::to_string(impl->server->port())
                         : options.public_url;
  while (!impl->public_url.empty() && impl->public_url.back() == '/') impl->public_url.pop_back();
  impl->events->SetVaultOrigin(impl->public_url);
  RestApiOptions api_options;
  api_options.public_origin = impl->public_url;
  if (options.test_clock) api_options.test_clock = impl->clock.get();
  api_options.seal_status = std::move(seal_status);
  api_options.event_subscriptions = impl->subscriptions.get();
  api_options.auth_failures = impl->auth_failures.get();
  api_options.metrics = &impl->metrics;
  api_options.metrics_open = options.metrics_open;
  api_options.not_ready = [kv = impl->kv.get(), reserve = impl->reserve.get()] {
    std::vector<std::string> reasons;
    if (!reserve->Check(0).ok()) reasons.push_back("the disk is full: key changes are refused");
    if (kv->write_error()) reasons.push_back("the store refuses writes until the vault is restarted");
    return reasons;
  };
  impl->api = std::make_unique<RestApi>(*impl->vault, *impl->access, api_options,
                                        impl->backup.get(), audit);
  impl->api_ready.store(impl->api.get(), std::memory_order_release);
  impl->scheduler->Start();
  return std::unique_ptr<VaultService>(new VaultService(std::move(impl)));
}

}  // namespace coffre::vault
