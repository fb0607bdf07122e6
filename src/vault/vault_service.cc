#include "vault/vault_service.h"

#include <atomic>
#include <chrono>

#include "common/files.h"
#include "net/https_server.h"
#include "storage/rocks_kv_store.h"
#include "vault/access_control.h"
#include "vault/event_subscriptions.h"
#include "vault/key_vault.h"
#include "vault/master_key.h"
#include "vault/rest_api.h"
#include "vault/sealed_store.h"
#include "vault/webhook_delivery.h"

namespace coffre::vault {
namespace {

constexpr const char* kOwner = "owner";

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct VaultService::Impl {
  std::unique_ptr<storage::RocksKvStore> kv;
  std::unique_ptr<SealedStore> store;
  std::unique_ptr<EventSubscriptions> subscriptions;
  std::unique_ptr<WebhookDelivery> events;  // outlives access and vault, which publish to it
  std::unique_ptr<AccessControl> access;
  std::unique_ptr<KeyVault> vault;
  std::unique_ptr<RestApi> api;
  std::atomic<RestApi*> api_ready{nullptr};
  std::unique_ptr<net::HttpsServer> server;
  std::string public_url;
  bool initialised_now = false;
};

VaultService::VaultService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
VaultService::~VaultService() { Stop(); }

uint16_t VaultService::port() const { return impl_->server->port(); }
const std::string& VaultService::public_url() const { return impl_->public_url; }
bool VaultService::initialised_now() const { return impl_->initialised_now; }

void VaultService::Stop() {
  if (impl_ && impl_->server) impl_->server->Stop();
  if (impl_ && impl_->events) impl_->events->Stop();
}

Result<std::unique_ptr<VaultService>> VaultService::Start(const VaultServiceOptions& options) {
  if (options.retention_days < 7 || options.retention_days > 90) {
    return InvalidArgument("retention days must be between 7 and 90");
  }
  auto impl = std::make_unique<Impl>();
  COFFRE_RETURN_IF_ERROR(EnsurePrivateDirectory(options.dir));
  std::filesystem::path master_file = options.dir / "master.json";
  bool fresh = !std::filesystem::exists(master_file);
  if (fresh && options.owner_token_file.empty()) {
    return InvalidArgument("a new vault needs --owner-token-file to write the owner's token to");
  }
  Result<crypto::SecretBytes> master = fresh ? CreateMasterKeyFile(master_file, options.passphrase)
                                             : UnsealMasterKey(master_file, options.passphrase);
  if (!master.has_value()) return master.error();
  COFFRE_ASSIGN_OR_RETURN(impl->kv, storage::RocksKvStore::Open(options.dir / "db"));
  COFFRE_ASSIGN_OR_RETURN(impl->store, SealedStore::Open(*impl->kv, std::move(*master)));
  COFFRE_ASSIGN_OR_RETURN(impl->subscriptions, EventSubscriptions::Open(*impl->store, NowSeconds));
  impl->events = std::make_unique<WebhookDelivery>(*impl->subscriptions);
  impl->access = std::make_unique<AccessControl>(*impl->store, AccessControl::SystemSeconds,
                                                 impl->events.get());

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

  storage::RocksKvStore* kv = impl->kv.get();
  impl->vault = std::make_unique<KeyVault>(*impl->store, settings, NowSeconds,
                                            [kv] { return kv->DestroyDeletedData(); },
                                            impl->events.get());

  net::HttpsServerOptions server_options;
  server_options.address = options.listen_address;
  server_options.port = options.port;
  server_options.cert_file = options.tls_cert;
  server_options.key_file = options.tls_key;
  server_options.threads = options.threads;
  server_options.error_response = [](unsigned status, std::string_view message) {
    return RestApi::Error(status, status == 413 ? "RequestTooLarge" : "BadParameter", message);
  };
  // The API needs the public URL, which needs the bound port: the handler finds the API once
  // it is published, and answers 503 in the instant before.
  auto handler = [impl_ptr = impl.get()](const net::HttpRequest& r) {
    RestApi* api = impl_ptr->api_ready.load(std::memory_order_acquire);
    if (api == nullptr) return RestApi::Error(503, "ServiceUnavailable", "The vault is starting.");
    return api->Handle(r);
  };
  COFFRE_ASSIGN_OR_RETURN(impl->server, net::HttpsServer::Start(server_options, handler));
  impl->public_url = options.public_url.empty()
                         ? "https://localhost:" + std::to_string(impl->server->port())
                         : options.public_url;
  while (!impl->public_url.empty() && impl->public_url.back() == '/') impl->public_url.pop_back();
  impl->events->SetVaultOrigin(impl->public_url);
  RestApiOptions api_options;
  api_options.public_origin = impl->public_url;
  api_options.event_subscriptions = impl->subscriptions.get();
  impl->api = std::make_unique<RestApi>(*impl->vault, *impl->access, api_options);
  impl->api_ready.store(impl->api.get(), std::memory_order_release);
  return std::unique_ptr<VaultService>(new VaultService(std::move(impl)));
}

}  // namespace coffre::vault
