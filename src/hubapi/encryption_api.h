#pragma once
// The hub's encryption status and settings over HTTPS, and the refusal every other call gets
// while the customer-managed key is inaccessible.
//   GET /$coffre/encryption  {"state": "Accessible"|"Inaccessible", "reason", "detail", "since",
//     "lastGoodCheck", "mode": "customer-managed"|"service-managed", "keyUri", "keyId",
//     "purgeProtection", "settings": {...}}
//     No credentials needed (while the key is inaccessible the hub cannot check any: its access
//     policies are sealed too); it names the key and why, nothing secret.
//   PUT /$coffre/encryption  iothubowner's rights. Any of "keyCheckIntervalMs",
//     "vaultGraceSeconds", "expiredKey" (applied from the next check); "keyUri" with
//     "vaultToken" (and "vaultCaPem") to turn a customer key on or change it, online; and
//     "keyEventsSecret", the secret of the vault's key-event subscription (key_events_api.h).
// Thread-safe.

#include <optional>

#include "hub/access_policies.h"
#include "hub/encryption_settings.h"
#include "hub/hub_keys.h"
#include "hub/key_custody.h"
#include "hub/key_monitor.h"
#include "hub/other_nodes.h"
#include "net/http_types.h"

namespace coffre::hubapi {

class EncryptionApi {
 public:
  // Everything must outlive the API.
  // A PUT is refused (409) while `other_nodes` finds any: a change made here would not reach
  // them yet.
  EncryptionApi(hub::KeyMonitor& monitor, hub::EncryptionConfig& config, hub::KeyCustody& custody,
                hub::HubKeys& keys, hub::AccessPolicies& policies,
                hub::OtherLiveNodes other_nodes = nullptr)
      : monitor_(monitor), config_(config), custody_(custody), keys_(keys), policies_(policies),
        other_nodes_(std::move(other_nodes)) {}

  std::optional<net::HttpResponse> Handle(const net::HttpRequest& request);
  // nullopt while the key is accessible; else the 403 CustomerManagedKeyInaccessible to answer
  // any service, read or device call with.
  std::optional<net::HttpResponse> RefuseIfInaccessible() const;

 private:
  net::HttpResponse Show() const;
  net::HttpResponse Update(const net::HttpRequest& request);

  hub::KeyMonitor& monitor_;
  hub::EncryptionConfig& config_;
  hub::KeyCustody& custody_;
  hub::HubKeys& keys_;
  hub::AccessPolicies& policies_;
  const hub::OtherLiveNodes other_nodes_;
  std::mutex update_mu_;  // one PUT at a time
};

}  // namespace coffre::hubapi
