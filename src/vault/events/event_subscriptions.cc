#include "vault/events/event_subscriptions.h"

#include <strings.h>

#include <algorithm>

#include "common/encoding.h"
#include "crypto/random.h"
#include "net/https_client.h"
#include "vault/keys/key_events.h"

namespace coffre::vault {
namespace {

using nlohmann::json;

constexpr size_t kMaxEndpointChars = 2048;

std::string RecordKey(const std::string& id) { return "eventsub/" + id; }
std::string SecretKey(const std::string& id) { return "eventsecret/" + id; }

json ToJson(const EventSubscription& s) {
  return json{{"endpoint", s.endpoint},
              {"event_types", s.event_types},
              {"ca_pem", s.ca_pem},
              {"created", s.created}};
}

EventSubscription FromJson(const std::string& id, const json& j) {
  EventSubscription s;
  s.id = id;
  s.endpoint = j.value("endpoint", "");
  s.event_types = j.value("event_types", std::vector<std::string>{});
  s.ca_pem = j.value("ca_pem", "");
  s.created = j.value("created", int64_t{0});
  return s;
}

// "cwh1." + 256 random bits, base64url: the HMAC key is this text's bytes, so a receiver uses
// the string as it was shown.
Result<crypto::SecretBytes> NewSecret() {
  COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes raw, crypto::SecretBytes::Random(32));
  std::string text = "cwh1." + Base64UrlEncode(raw.Reveal());
  Result<crypto::SecretBytes> secret = crypto::SecretBytes::CopyOf(AsBytes(text));
  crypto::Cleanse(text);
  return secret;
}

}  // namespace

const std::vector<std::string>& AllEventTypes() {
  static const std::vector<std::string> kAll = {
      std::string(event_type::kKeyNewVersionCreated), std::string(event_type::kKeyNearExpiry),
      std::string(event_type::kKeyExpired),           std::string(event_type::kVaultAccessPolicyChanged),
      std::string(event_type::kKeyDisabled),          std::string(event_type::kKeyEnabled),
      std::string(event_type::kKeyDeleted),           std::string(event_type::kKeyRecovered),
      std::string(event_type::kKeyPurged)};
  return kAll;
}

Result<std::string> CanonicalEventType(std::string_view name) {
  auto same = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
  };
  for (const std::string& type : AllEventTypes()) {
    std::string_view short_name = std::string_view(type).substr(type.rfind('.') + 1);
    if (same(type, name) || same(short_name, name)) return type;
  }
  return InvalidArgument("unknown event type '" + std::string(name) + "'");
}

Result<WebhookEndpoint> ParseWebhookEndpoint(std::string_view url) {
  if (url.size() > kMaxEndpointChars ||
      !std::all_of(url.begin(), url.end(), [](char c) { return c > ' ' && c < 0x7f; })) {
    return InvalidArgument("the endpoint must be an https URL of at most 2048 printable characters");
  }
  if (url.find('#') != std::string_view::npos) {
    return InvalidArgument("the endpoint must not have a fragment");
  }
  constexpr std::string_view kScheme = "https://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    return InvalidArgument("the endpoint must be an https URL");
  }
  std::string_view rest = url.substr(kScheme.size());
  size_t path_at = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, path_at);
  if (authority.find('@') != std::string_view::npos) {
    return InvalidArgument("the endpoint must not carry user information");
  }
  WebhookEndpoint out;
  COFFRE_ASSIGN_OR_RETURN(out.origin, net::ParseOrigin(std::string(kScheme) + std::string(authority)));
  out.target = path_at == std::string_view::npos ? "/" : std::string(rest.substr(path_at));
  if (out.target.front() == '?') out.target.insert(out.target.begin(), '/');
  return out;
}

bool EventSubscription::Wants(std::string_view type) const {
  return event_types.empty() ||
         std::find(event_types.begin(), event_types.end(), type) != event_types.end();
}

Result<std::unique_ptr<EventSubscriptions>> EventSubscriptions::Open(SealedStore& store,
                                                                     const Clock& clock) {
  std::unique_ptr<EventSubscriptions> subs(new EventSubscriptions(store, clock));
  std::vector<EventSubscription> found;
  COFFRE_RETURN_IF_ERROR(store.ScanJson("eventsub/", [&](const std::string& key, const json& j) {
    found.push_back(FromJson(key.substr(9), j));
    return true;
  }));
  for (EventSubscription& s : found) {
    COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes secret, store.GetSecret(SecretKey(s.id)));
    std::string id = s.id;
    subs->live_[id] = {std::move(s), std::make_shared<const crypto::SecretBytes>(std::move(secret))};
  }
  return subs;
}

Result<EventSubscriptions::Created> EventSubscriptions::Create(
    const std::string& endpoint, const std::vector<std::string>& event_types,
    const std::string& ca_pem) {
  COFFRE_ASSIGN_OR_RETURN(WebhookEndpoint parsed, ParseWebhookEndpoint(endpoint));
  EventSubscription s;
  s.endpoint = endpoint;
  for (const std::string& type : event_types) {
    COFFRE_ASSIGN_OR_RETURN(std::string canonical, CanonicalEventType(type));
    auto& types = s.event_types;
    if (std::find(types.begin(), types.end(), canonical) == types.end()) types.push_back(canonical);
  }
  if (ca_pem.size() > kMaxCaPemBytes) return InvalidArgument("caPem is larger than 64 KiB");
  if (!ca_pem.empty()) {
    // The client that will deliver is the judge of what a usable CA is.
    net::HttpsClientOptions probe;
    probe.origin = parsed.origin;
    probe.ca_pem = ca_pem;
    Result<std::unique_ptr<net::HttpsClient>> client = net::HttpsClient::Create(probe);
    if (!client.has_value()) return InvalidArgument("caPem holds no usable PEM certificate");
  }
  s.ca_pem = ca_pem;
  s.created = clock_.NowSeconds();
  COFFRE_ASSIGN_OR_RETURN(s.id, crypto::RandomUuid());
  COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes secret, NewSecret());
  std::lock_guard<std::mutex> guard(mu_);
  if (live_.size() >= kMaxSubscriptions) {
    return ResourceExhausted("a vault has at most 25 event subscriptions");
  }
  COFFRE_RETURN_IF_ERROR(store_.Apply({
      {SecretKey(s.id), {}, secret.Reveal(), false},
      {RecordKey(s.id), ToJson(s), {}, false},
  }));
  COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes kept, secret.Clone());
  live_[s.id] = {s, std::make_shared<const crypto::SecretBytes>(std::move(kept))};
  return Created{std::move(s), std::move(secret)};
}

std::vector<EventSubscription> EventSubscriptions::List() const {
  std::lock_guard<std::mutex> guard(mu_);
  std::vector<EventSubscription> out;
  for (const auto& [id, live] : live_) out.push_back(live.subscription);
  return out;
}

Result<EventSubscription> EventSubscriptions::Get(const std::string& id) const {
  std::lock_guard<std::mutex> guard(mu_);
  auto it = live_.find(id);
  if (it == live_.end()) return NotFound("event subscription '" + id + "' does not exist");
  return it->second.subscription;
}

Status EventSubscriptions::Delete(const std::string& id) {
  std::lock_guard<std::mutex> guard(mu_);
  auto it = live_.find(id);
  if (it == live_.end()) return NotFound("event subscription '" + id + "' does not exist");
  COFFRE_RETURN_IF_ERROR(store_.Apply({{RecordKey(id), {}, {}, true}, {SecretKey(id), {}, {}, true}}));
  live_.erase(it);
  return Status::Ok();
}

std::vector<std::string> EventSubscriptions::Matching(std::string_view type) const {
  std::lock_guard<std::mutex> guard(mu_);
  std::vector<std::string> out;
  for (const auto& [id, live] : live_) {
    if (live.subscription.Wants(type)) out.push_back(id);
  }
  return out;
}

std::optional<EventSubscriptions::Live> EventSubscriptions::Find(const std::string& id) const {
  std::lock_guard<std::mutex> guard(mu_);
  auto it = live_.find(id);
  if (it == live_.end()) return std::nullopt;
  return it->second;
}

bool EventSubscriptions::Contains(const std::string& id) const {
  std::lock_guard<std::mutex> guard(mu_);
  return live_.count(id) > 0;
}

}  // namespace coffre::vault
