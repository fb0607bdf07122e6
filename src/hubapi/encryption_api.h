#pragma once
// The hub's encryption status and settings over HTTPS, and the refusal every other call gets
// while the customer-managed key is inaccessible.
//   GET /$coffre/encryption  {"state": "Accessible"|"Inaccessible", "reason", "detail", "since",
//                             "lastGoodCheck", "keyUri", "keyId", "settings": {...}}
//     No credentials needed (while the key is inaccessible the hub cannot check any: its access
//     policies are sealed too); it names the key and why, nothing secret.
//   PUT /$coffre/encryption  {"keyCheckIntervalMs", "vaultGraceSeconds", "expiredKey"} (any of
//     them): iothubowner's rights; stored durably, applied from the next check on.
// Thread-safe.

#include <mutex>
#include <optional>

#include "hub/access_policies.h"
#include "hub/encryption_settings.h"
#include "hub/key_monitor.h"
#include "net/http_types.h"
#include "storage/kv_store.h"

namespace coffre::hubapi {

class EncryptionApi {
 public:
  // Everything must outlive the API; `settings` are the ones the monitor runs with.
  EncryptionApi(hub::KeyMonitor& monitor, std::string key_uri, hub::AccessPolicies& policies,
                storage::KvStore& kv, hub::EncryptionSettings settings)
      : monitor_(monitor), key_uri_(std::move(key_uri)), policies_(policies), kv_(kv),
        settings_(settings) {}

  std::optional<net::HttpResponse> Handle(const net::HttpRequest& request);
  // nullopt while the key is accessible; else the 403 CustomerManagedKeyInaccessible to answer
  // any service, read or device call with.
  std::optional<net::HttpResponse> RefuseIfInaccessible() const;

 private:
  net::HttpResponse Show();
  net::HttpResponse Update(const net::HttpRequest& request);

  hub::KeyMonitor& monitor_;
  std::string key_uri_;
  hub::AccessPolicies& policies_;
  storage::KvStore& kv_;
  std::mutex mu_;
  hub::EncryptionSettings settings_;  // guarded by mu_
};

}  // namespace coffre::hubapi
