#include "cli/vault_views.h"

#include <ctime>

#include "cli/json_member.h"
#include "common/encoding.h"

namespace coffre::cli {
namespace {

using nlohmann::json;

constexpr const char* kMissing = "-";

std::string Text(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_boolean()) return j.get<bool>() ? "true" : "false";
  if (j.is_number()) return j.dump();
  return kMissing;
}

std::string Joined(const json& list) {
  if (!list.is_array()) return kMissing;
  std::string out;
  for (const json& e : list) {
    if (!out.empty()) out += ',';
    out += Text(e);
  }
  return out;
}

// A bundle carries its kid in "key", a list item at the top.
std::string KidOf(const json& bundle_or_item) {
  const json& key = Member(bundle_or_item, "key");
  return Text(key.is_object() ? Member(key, "kid") : Member(bundle_or_item, "kid"));
}

// The path segments after "/keys/" or "/deletedkeys/" in a kid: {name, version}.
std::pair<std::string, std::string> SplitKid(const std::string& kid) {
  for (std::string_view marker : {"/keys/", "/deletedkeys/"}) {
    size_t at = kid.find(marker);
    if (at == std::string::npos) continue;
    std::string rest = kid.substr(at + marker.size());
    size_t slash = rest.find('/');
    if (slash == std::string::npos) return {rest, ""};
    return {rest.substr(0, slash), rest.substr(slash + 1)};
  }
  return {"", ""};
}

std::string VersionOf(const json& bundle_or_item) {
  std::string version = SplitKid(KidOf(bundle_or_item)).second;
  return version.empty() ? kMissing : version;
}

// RSA keys carry no size field: it is the length of the modulus n.
std::string SizeInBits(const json& key) {
  const json& n = Member(key, "n");
  if (!n.is_string()) return kMissing;
  Result<Bytes> modulus = Base64UrlDecode(n.get<std::string>());
  if (!modulus.has_value()) return kMissing;
  return std::to_string(modulus->size() * 8);
}

std::string Enabled(const json& bundle_or_item) {
  return Text(Member(Member(bundle_or_item, "attributes"), "enabled"));
}

std::string Time(const json& bundle_or_item, const char* field) {
  return IsoTime(Member(Member(bundle_or_item, "attributes"), field));
}

std::string NameOr(const std::string& name) { return name.empty() ? kMissing : name; }

}  // namespace

std::string KeyNameOf(const json& bundle_or_item) { return SplitKid(KidOf(bundle_or_item)).first; }

std::string IsoTime(const json& seconds) {
  if (!seconds.is_number_integer()) return kMissing;
  std::time_t t = seconds.get<int64_t>();
  std::tm utc{};
  char text[32];
  if (::gmtime_r(&t, &utc) == nullptr ||
      std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc) == 0) {
    return kMissing;
  }
  return text;
}

Table KeyListTable() { return Table({"NAME", "VERSION", "KTY", "SIZE", "ENABLED", "UPDATED"}); }

void AddKeyRow(Table& table, const json& bundle_or_item) {
  const json& key = Member(bundle_or_item, "key");
  table.AddRow({NameOr(KeyNameOf(bundle_or_item)), VersionOf(bundle_or_item),
                Text(Member(key, "kty")), SizeInBits(key), Enabled(bundle_or_item),
                Time(bundle_or_item, "updated")});
}

Table KeyDetails(const json& bundle) {
  const json& key = Member(bundle, "key");
  const json& attributes = Member(bundle, "attributes");
  Table t;
  t.AddRow({"NAME", NameOr(KeyNameOf(bundle))});
  t.AddRow({"VERSION", VersionOf(bundle)});
  t.AddRow({"KTY", Text(Member(key, "kty"))});
  t.AddRow({"SIZE", SizeInBits(key)});
  t.AddRow({"OPERATIONS", Joined(Member(key, "key_ops"))});
  t.AddRow({"ENABLED", Enabled(bundle)});
  t.AddRow({"CREATED", Time(bundle, "created")});
  t.AddRow({"UPDATED", Time(bundle, "updated")});
  t.AddRow({"RECOVERY", Text(Member(attributes, "recoveryLevel")) + " (" +
                            Text(Member(attributes, "recoverableDays")) + " days)"});
  if (bundle.contains("deletedDate")) {
    t.AddRow({"DELETED", IsoTime(Member(bundle, "deletedDate"))});
    t.AddRow({"SCHEDULED PURGE", IsoTime(Member(bundle, "scheduledPurgeDate"))});
    t.AddRow({"RECOVERY ID", Text(Member(bundle, "recoveryId"))});
  }
  return t;
}

Table VersionsTable(const json& items) {
  Table t({"VERSION", "ENABLED", "CREATED", "UPDATED"});
  for (const json& item : items) {
    t.AddRow({VersionOf(item), Enabled(item), Time(item, "created"), Time(item, "updated")});
  }
  return t;
}

Table DeletedKeysTable(const json& items) {
  Table t({"NAME", "DELETED", "SCHEDULED PURGE", "ENABLED"});
  for (const json& item : items) {
    t.AddRow({NameOr(KeyNameOf(item)), IsoTime(Member(item, "deletedDate")),
              IsoTime(Member(item, "scheduledPurgeDate")), Enabled(item)});
  }
  return t;
}

Table PolicyDetails(const json& policy) {
  const json& attributes = Member(policy, "attributes");
  std::string rotate = kMissing, notify = kMissing;
  const json& actions = Member(policy, "lifetimeActions");
  for (const json& action : actions.is_array() ? actions : json::array()) {
    const json& trigger = Member(action, "trigger");
    std::string when = Member(trigger, "timeAfterCreate").is_string()
                           ? "after creation " + Text(Member(trigger, "timeAfterCreate"))
                           : "before expiry " + Text(Member(trigger, "timeBeforeExpiry"));
    std::string type = Text(Member(Member(action, "action"), "type"));
    (type == "Rotate" ? rotate : notify) = when;
  }
  Table t;
  t.AddRow({"ID", Text(Member(policy, "id"))});
  t.AddRow({"ROTATE", rotate});
  t.AddRow({"NOTIFY", notify});
  t.AddRow({"EXPIRES IN", Text(Member(attributes, "expiryTime"))});
  t.AddRow({"CREATED", IsoTime(Member(attributes, "created"))});
  t.AddRow({"UPDATED", IsoTime(Member(attributes, "updated"))});
  return t;
}

namespace {

// The keys a principal's grant is limited to; "all" when it holds on every key.
std::string ScopeText(const json& principal) {
  const json& keys = Member(Member(principal, "scope"), "keys");
  return keys.is_array() ? Joined(keys) : "all";
}

}  // namespace

Table PrincipalDetails(const json& principal) {
  Table t;
  t.AddRow({"NAME", Text(Member(principal, "name"))});
  t.AddRow({"ADMIN", Text(Member(principal, "admin"))});
  t.AddRow({"PERMISSIONS", Joined(Member(Member(principal, "permissions"), "keys"))});
  t.AddRow({"KEYS", ScopeText(principal)});
  if (principal.contains("token")) t.AddRow({"TOKEN", Text(Member(principal, "token"))});
  return t;
}

Table PrincipalsTable(const json& items) {
  Table t({"NAME", "ADMIN", "PERMISSIONS", "KEYS"});
  for (const json& p : items) {
    t.AddRow({Text(Member(p, "name")), Text(Member(p, "admin")),
              Joined(Member(Member(p, "permissions"), "keys")), ScopeText(p)});
  }
  return t;
}

namespace {

std::string EventTypes(const json& subscription) {
  const json& types = Member(subscription, "eventTypes");
  return types.is_array() && types.empty() ? "all" : Joined(types);
}

}  // namespace

Table SubscriptionDetails(const json& subscription) {
  Table t;
  t.AddRow({"ID", Text(Member(subscription, "id"))});
  t.AddRow({"ENDPOINT", Text(Member(subscription, "endpoint"))});
  t.AddRow({"EVENT TYPES", EventTypes(subscription)});
  t.AddRow({"CUSTOM CA", Text(Member(subscription, "customCa"))});
  t.AddRow({"CREATED", IsoTime(Member(subscription, "created"))});
  if (subscription.contains("secret")) t.AddRow({"SECRET", Text(Member(subscription, "secret"))});
  return t;
}

Table SubscriptionsTable(const json& items) {
  Table t({"ID", "ENDPOINT", "EVENT TYPES", "CREATED"});
  for (const json& s : items) {
    t.AddRow({Text(Member(s, "id")), Text(Member(s, "endpoint")), EventTypes(s),
              IsoTime(Member(s, "created"))});
  }
  return t;
}

}  // namespace coffre::cli
