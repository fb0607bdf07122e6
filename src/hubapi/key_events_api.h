#pragma once
// POST /$coffre/keyevents: the hub's endpoint for its vault's key events (Event Grid schema,
// signed per docs/VAULT.md "Events"). A request whose Coffre-Signature verifies (HMAC-SHA-256
// under the subscription's secret, compared in constant time, timestamp within 5 minutes) only
// wakes the KeyMonitor, whose own check of the vault decides: an event, genuine or forged,
// never locks or unlocks anything by itself (docs/SECURITY.md). 401 for a missing, stale or
// wrong signature, or when no secret is configured; 200 otherwise.
// Thread-safe.

#include <optional>

#include "common/clock.h"
#include "hub/encryption_settings.h"
#include "hub/key_monitor.h"
#include "net/http_types.h"

namespace coffre::hubapi {

class KeyEventsApi {
 public:
  // monitor, config and clock must outlive the API.
  KeyEventsApi(hub::KeyMonitor& monitor, const hub::EncryptionConfig& config,
               const Clock& clock);

  // nullopt: not this API's path.
  std::optional<net::HttpResponse> Handle(const net::HttpRequest& request);

 private:
  hub::KeyMonitor& monitor_;
  const hub::EncryptionConfig& config_;
  const Clock& clock_;
};

}  // namespace coffre::hubapi
