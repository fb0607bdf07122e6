#pragma once
// KeyCustody: who holds the key that wraps the hub's root key, the operator's service key
// (service-managed) or the customer's vault (customer-managed), and changing it while the hub
// runs. The choice lives in EncryptionConfig. Opening uses the provider that wrapped the stored
// root key (its key id says which), so a change that a crash interrupted is finished at the
// next start; a hub whose vault cannot be used opens locked (Inaccessible until it answers).
// Thread-safe.

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "crypto/secret_bytes.h"
#include "hub/encryption_settings.h"
#include "hub/hub_keys.h"
#include "keys/current_key_provider.h"

namespace coffre::hub {

class KeyCustody {
 public:
  // The provider of a customer key (settings.customer_managed()), each call bounded by
  // `timeout`: a vault client in coffre-hub, which apps/ builds (hub has no sockets); tests pass
  // their own. The service key's provider is the custody's own.
  using ProviderFactory = std::function<Result<std::shared_ptr<crypto::KeyProvider>>(
      const EncryptionSettings& settings, std::chrono::milliseconds timeout)>;

  // config and service_key must outlive the custody; a changed key's token and CA files are
  // written under `dir` (mode 0600). customer_keys is required (not null).
  KeyCustody(EncryptionConfig& config, const crypto::SecretBytes& service_key,
             std::filesystem::path dir, ProviderFactory customer_keys)
      : config_(config),
        service_key_(service_key),
        dir_(std::move(dir)),
        customer_keys_(std::move(customer_keys)),
        checker_(nullptr) {}

  // The hub's keys: a new hub's root key is created and wrapped by the configured key; an
  // existing one is unwrapped by the provider that wrapped it, or opened locked (then
  // *locked_because says why). Call once, before checker().
  Result<std::unique_ptr<HubKeys>> Open(storage::KvStore& kv, Status* locked_because);

  // The configured key, with a 250 ms timeout: what the KeyMonitor checks.
  crypto::KeyProvider& checker() { return checker_; }

  // Turns a customer key on, or changes it, online: stores the choice, re-wraps the root key
  // under the new key (durable, proven to unwrap; no data is re-encrypted), and points the checks
  // at it. On failure the previous key stays in charge.
  Status UseCustomerKey(HubKeys& keys, const std::string& key_uri, const std::string& token,
                        const std::string& ca_pem);

  // Stores the secret of the vault's key-event subscription for this hub (DIR/customer-key/
  // key-events-secret, mode 0600) and points the settings at it.
  Status UseKeyEventsSecret(const std::string& secret);

 private:
  Result<std::shared_ptr<crypto::KeyProvider>> Provider(const EncryptionSettings& s,
                                                        std::chrono::milliseconds timeout) const;

  EncryptionConfig& config_;
  const crypto::SecretBytes& service_key_;
  std::filesystem::path dir_;
  ProviderFactory customer_keys_;
  std::mutex change_mu_;  // one change at a time
  keys::CurrentKeyProvider checker_;
};

}  // namespace coffre::hub
