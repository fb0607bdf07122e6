#pragma once
// EventSubscriptions: the vault's webhook subscriptions (Coffre's admin API, owner only). One
// subscription is an https endpoint, an optional event type filter, an optional CA (PEM) to
// trust for that endpoint, and a per-subscription HMAC secret that the vault generates, returns
// once at creation and stores only sealed (a raw SealedStore record, like key material).
// An in-memory copy (secrets in SecretBytes) serves delivery without touching the store.
// Thread-safe.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "crypto/secret_bytes.h"
#include "net/http_types.h"
#include "vault/seal/sealed_store.h"

namespace coffre::vault {

// Every event type a subscription can ask for, in canonical spelling (key_events.h).
const std::vector<std::string>& AllEventTypes();
// "KeyDisabled" or "coffre.keyvault.keydisabled" -> "Coffre.KeyVault.KeyDisabled";
// INVALID_ARGUMENT for an unknown type.
Result<std::string> CanonicalEventType(std::string_view name);

// An https URL split for a client: where to connect, and the request target.
struct WebhookEndpoint {
  net::Origin origin;
  std::string target;  // "/path?query", at least "/"
};
// INVALID_ARGUMENT unless `url` is https://host[:port][/path][?query], without user info or a
// fragment, at most 2048 characters of printable ASCII.
Result<WebhookEndpoint> ParseWebhookEndpoint(std::string_view url);

struct EventSubscription {
  std::string id;                        // a UUID, made by the vault
  std::string endpoint;                  // https://host[:port]/path
  std::vector<std::string> event_types;  // canonical; empty: every type
  std::string ca_pem;                    // empty: the system's trust store
  int64_t created = 0;                   // seconds since the epoch
  bool Wants(std::string_view type) const;
};

class EventSubscriptions {
 public:
  static constexpr size_t kMaxSubscriptions = 25;
  static constexpr size_t kMaxCaPemBytes = 64 * 1024;

  // Loads the stored subscriptions. store must outlive this object.
  static Result<std::unique_ptr<EventSubscriptions>> Open(SealedStore& store, const Clock& clock);

  struct Created {
    EventSubscription subscription;
    crypto::SecretBytes secret;  // its text ("cwh1." + base64url); the only copy given out
  };
  // INVALID_ARGUMENT for a bad endpoint, type or CA; RESOURCE_EXHAUSTED past kMaxSubscriptions.
  Result<Created> Create(const std::string& endpoint, const std::vector<std::string>& event_types,
                         const std::string& ca_pem);
  std::vector<EventSubscription> List() const;  // by id
  Result<EventSubscription> Get(const std::string& id) const;  // NOT_FOUND
  Status Delete(const std::string& id);                         // NOT_FOUND

  // For delivery: the ids wanting `type`, and one subscription with its secret (nullopt once
  // deleted). The secret is shared, read-only, and wiped when the last holder lets go.
  std::vector<std::string> Matching(std::string_view type) const;
  struct Live {
    EventSubscription subscription;
    std::shared_ptr<const crypto::SecretBytes> secret;
  };
  std::optional<Live> Find(const std::string& id) const;
  bool Contains(const std::string& id) const;

 private:
  EventSubscriptions(SealedStore& store, const Clock& clock) : store_(store), clock_(clock) {}

  SealedStore& store_;
  const Clock& clock_;  // must outlive this object
  mutable std::mutex mu_;
  std::map<std::string, Live> live_;  // guarded by mu_
};

}  // namespace coffre::vault
