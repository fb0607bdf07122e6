#pragma once
// POST /$coffre/keyevents: the hub's endpoint for its vault's key events (Event Grid schema,
// signed per docs/VAULT.md "Events"). A request whose Coffre-Signature verifies (HMAC-SHA-256
// under the subscription's secret, compared in constant time, timestamp within 5 minutes) only
// wakes the KeyMonitor, whose own check of the vault decides: an event, genuine or forged,
// never locks or unlocks anything by itself (docs/SECURITY.md). 401 for a missing, stale or
// wrong signature, or when no secret is configured; 200 otherwise.
// Thread-safe.

#include <functional>
#include <optional>

#include "hub/encryption_settings.h"
#include "hub/key_monitor.h"
#include "net/http_types.h"

namespace coffre::hubapi {

class KeyEventsApi {
 public:
  using Clock = std::function<int64_t()>;  // seconds since the epoch
  // monitor and config must outlive the API.
  KeyEventsApi(hub::KeyMonitor& monitor, const hub::EncryptionConfig& config, Clock clock);

  // nullopt: not this API's path.
  std::optional<net::HttpResponse> Handle(const net::HttpRequest& request);

 private:
  hub::KeyMonitor& monitor_;
  const hub::EncryptionConfig& config_;
  Clock clock_;
};

}  // namespace coffre::hubapi
