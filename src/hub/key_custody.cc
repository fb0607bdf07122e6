#include "hub/key_custody.h"

#include "common/files.h"
#include "common/log.h"
#include "hub/key_monitor.h"
#include "keys/service_key_provider.h"
#include "keys/vault_key_provider.h"  // ParseKeyUri only: apps/ builds the vault client

namespace coffre::hub {
namespace {

constexpr auto kOpenTimeout = std::chrono::milliseconds(3000);

}  // namespace

Result<std::shared_ptr<crypto::KeyProvider>> KeyCustody::Provider(
    const EncryptionSettings& s, std::chrono::milliseconds timeout) const {
  if (s.customer_managed()) {
    if (!customer_keys_) return FailedPrecondition("no provider for customer keys");
    return customer_keys_(s, timeout);
  }
  COFFRE_ASSIGN_OR_RETURN(auto provider, keys::ServiceKeyProvider::Create(service_key_));
  return std::shared_ptr<crypto::KeyProvider>(std::move(provider));
}

Result<std::unique_ptr<HubKeys>> KeyCustody::Open(storage::KvStore& kv, Status* locked_because) {
  EncryptionSettings settings = config_.Get();
  COFFRE_ASSIGN_OR_RETURN(auto desired, Provider(settings, kOpenTimeout));
  COFFRE_ASSIGN_OR_RETURN(auto check, Provider(settings, kKeyCheckTimeout));
  checker_.Replace(check);
  Result<std::unique_ptr<HubKeys>> existing = HubKeys::OpenLocked(kv);
  if (!existing.has_value()) {
    if (existing.error().code() != StatusCode::kNotFound) return existing.error();
    return HubKeys::Open(kv, *desired);  // a new hub
  }
  bool service_wrapped = (*existing)->wrapped_root().key_id == keys::kServiceManagedKeyId;
  std::shared_ptr<crypto::KeyProvider> opener = desired;
  if (service_wrapped && settings.customer_managed()) {
    COFFRE_ASSIGN_OR_RETURN(opener, Provider(EncryptionSettings{}, kOpenTimeout));
  }
  Result<std::unique_ptr<HubKeys>> keys = HubKeys::Open(kv, *opener);
  if (!keys.has_value()) {
    if (locked_because != nullptr) *locked_because = keys.error();
    return existing;
  }
  if (service_wrapped && settings.customer_managed()) {
    // A switch to a customer key was interrupted: finish it (the next check retries if not).
    if (Status s = (*keys)->Rewrap(*desired); !s.ok()) {
      LogLine("keys", "finishing the switch to " + settings.key_uri + " failed: " + s.message());
    }
  }
  return keys;
}

Status KeyCustody::UseCustomerKey(HubKeys& keys, const std::string& key_uri,
                                  const std::string& token, const std::string& ca_pem) {
  std::lock_guard<std::mutex> one_at_a_time(change_mu_);
  COFFRE_RETURN_IF_ERROR(keys::ParseKeyUri(key_uri).status());
  if (token.empty()) return InvalidArgument("a customer key needs the hub's vault token");
  std::filesystem::path key_dir = dir_ / "customer-key";
  COFFRE_RETURN_IF_ERROR(EnsurePrivateDirectory(key_dir));
  EncryptionSettings previous = config_.Get();
  EncryptionSettings next = previous;
  next.key_uri = key_uri;
  next.vault_token_file = (key_dir / "vault-token").string();
  COFFRE_RETURN_IF_ERROR(WriteFileDurably(next.vault_token_file, AsBytes(token), 0600));
  next.vault_ca_file.clear();
  if (!ca_pem.empty()) {
    next.vault_ca_file = (key_dir / "vault-ca.pem").string();
    COFFRE_RETURN_IF_ERROR(WriteFileDurably(next.vault_ca_file, AsBytes(ca_pem), 0600));
  }
  COFFRE_ASSIGN_OR_RETURN(auto provider, Provider(next, kOpenTimeout));
  COFFRE_ASSIGN_OR_RETURN(auto check, Provider(next, kKeyCheckTimeout));
  // The choice first, then the root key: a crash in between is finished at the next start.
  COFFRE_RETURN_IF_ERROR(config_.Set(next));
  if (Status s = keys.Rewrap(*provider); !s.ok()) {
    (void)config_.Set(previous);
    return s.WithContext("re-wrapping the root key under " + key_uri);
  }
  checker_.Replace(check);
  LogLine("keys", "the root key is now wrapped by the customer-managed key " + key_uri);
  return Status::Ok();
}

Status KeyCustody::UseKeyEventsSecret(const std::string& secret) {
  std::lock_guard<std::mutex> one_at_a_time(change_mu_);
  if (secret.empty() || secret.size() > 1024) {
    return InvalidArgument("the key events secret must be 1 to 1024 characters");
  }
  std::filesystem::path key_dir = dir_ / "customer-key";
  COFFRE_RETURN_IF_ERROR(EnsurePrivateDirectory(key_dir));
  EncryptionSettings next = config_.Get();
  next.key_events_secret_file = (key_dir / "key-events-secret").string();
  COFFRE_RETURN_IF_ERROR(WriteFileDurably(next.key_events_secret_file, AsBytes(secret), 0600));
  return config_.Set(next);
}

}  // namespace coffre::hub
