#pragma once
// The hub's encryption status over HTTPS, and the refusal every other call gets while the
// customer-managed key is inaccessible.
//   GET /$coffre/encryption  {"state": "Accessible"|"Inaccessible", "reason", "detail", "since",
//                             "lastGoodCheck", "keyUri", "keyId"}
// No credentials are needed (while the key is inaccessible the hub cannot check any: its access
// policies are sealed too); it names the key and why, nothing secret. Thread-safe.

#include <optional>

#include "hub/key_monitor.h"
#include "net/http_types.h"

namespace coffre::hubapi {

class EncryptionApi {
 public:
  // monitor must outlive the API.
  EncryptionApi(const hub::KeyMonitor& monitor, std::string key_uri)
      : monitor_(monitor), key_uri_(std::move(key_uri)) {}

  std::optional<net::HttpResponse> Handle(const net::HttpRequest& request) const;
  // nullopt while the key is accessible; else the 403 CustomerManagedKeyInaccessible to answer
  // any service, read or device call with.
  std::optional<net::HttpResponse> RefuseIfInaccessible() const;

 private:
  const hub::KeyMonitor& monitor_;
  std::string key_uri_;
};

}  // namespace coffre::hubapi
