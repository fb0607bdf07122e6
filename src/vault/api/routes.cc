#include "vault/api/routes.h"

#include "common/strings.h"
#include "vault/api/http_reply.h"
#include "vault/api/route_context.h"

namespace coffre::vault {
namespace {

namespace h = route_handlers;
using K = Permission::Kind;

constexpr Permission Key(std::string_view name) { return {K::kKey, name}; }
constexpr Permission Owner(std::string_view what) { return {K::kOwner, what}; }
constexpr Permission kCryptoOp{K::kKeyOperation, {}};
constexpr Permission kAnyone{};

constexpr std::string_view kPrincipals = "manages principals";
constexpr std::string_view kClock = "moves the test clock";
constexpr std::string_view kAudit = "reads the audit log";
constexpr std::string_view kSubscriptions = "manages event subscriptions";

constexpr RouteNeeds kClockOn = RouteNeeds::kTestClock;
constexpr RouteNeeds kEventsOn = RouteNeeds::kEventSubscriptions;

// In order: the first route whose pattern and method match is taken.
const Route kRoutes[] = {
    // The Azure Key Vault keys API.
    {"GET", "/keys", "listKeys", Key("list"), h::ListKeys},
    {"POST", "/keys/restore", "restoreKey", Key("restore"), h::RestoreKey},
    {"GET", "/keys/{key}", "getKey", Key("get"), h::GetKey},
    {"PATCH", "/keys/{key}", "updateKey", Key("update"), h::UpdateKey},
    {"PUT", "/keys/{key}", "importKey", Key("import"), h::ImportKey},
    {"DELETE", "/keys/{key}", "deleteKey", Key("delete"), h::DeleteKey},
    {"POST", "/keys/{key}/create", "createKey", Key("create"), h::CreateKey},
    {"POST", "/keys/{key}/rotate", "rotateKey", Key("rotate"), h::RotateKey},
    {"POST", "/keys/{key}/backup", "backupKey", Key("backup"), h::BackupKey},
    {"GET", "/keys/{key}/rotationpolicy", "getRotationPolicy", Key("getrotationpolicy"),
     h::GetRotationPolicy},
    {"PUT", "/keys/{key}/rotationpolicy", "setRotationPolicy", Key("setrotationpolicy"),
     h::SetRotationPolicy},
    {"*", "/keys/{key}/rotationpolicy", "", kAnyone, h::NotAllowed},
    {"GET", "/keys/{key}/versions", "listKeyVersions", Key("list"), h::ListKeyVersions},
    {"POST", "/keys/{key}/{op}", "{op}", kCryptoOp, h::KeyOperation},  // .NET: /keys/{n}/wrapKey
    {"GET", "/keys/{key}/{version}", "getKey", Key("get"), h::GetKey},  // "/keys/{n}/": latest
    {"PATCH", "/keys/{key}/{version}", "updateKey", Key("update"), h::UpdateKey},
    {"POST", "/keys/{key}/{version}/{op}", "{op}", kCryptoOp, h::KeyOperation},
    {"*", "/keys/{key}/{version}/{op}", "", kAnyone, h::NotFound},
    {"*", "/keys/{key}/{version}/{op}/**", "", kAnyone, h::NotFound},
    {"GET", "/deletedkeys", "listDeletedKeys", Key("list"), h::ListDeletedKeys},
    {"GET", "/deletedkeys/{deleted}", "getDeletedKey", Key("get"), h::GetDeletedKey},
    {"DELETE", "/deletedkeys/{deleted}", "purgeDeletedKey", Key("purge"), h::PurgeDeletedKey},
    {"POST", "/deletedkeys/{deleted}/recover", "recoverDeletedKey", Key("recover"),
     h::RecoverDeletedKey},
    {"*", "/deletedkeys/{deleted}/**", "", kAnyone, h::NotAllowed},

    // Coffre's own routes, for the vault's owner.
    {"GET", "/coffre/principals", "listPrincipals", Owner(kPrincipals), h::ListPrincipals},
    {"*", "/coffre/principals", "", Owner(kPrincipals), h::NotAllowed},
    {"GET", "/coffre/principals/{principal}", "getPrincipal", Owner(kPrincipals), h::GetPrincipal},
    {"PUT", "/coffre/principals/{principal}", "setPrincipal", Owner(kPrincipals), h::SetPrincipal},
    {"DELETE", "/coffre/principals/{principal}", "deletePrincipal", Owner(kPrincipals),
     h::DeletePrincipal},
    {"*", "/coffre/principals/{principal}", "", Owner(kPrincipals), h::NotAllowed},
    {"GET", "/coffre/clock", "getTestClock", Owner(kClock), h::GetTestClock, kClockOn},
    {"POST", "/coffre/clock", "advanceTestClock", Owner(kClock), h::AdvanceTestClock, kClockOn},
    {"*", "/coffre/clock", "", Owner(kClock), h::NotAllowed, kClockOn},
    {"GET", "/coffre/audit", "getAuditLog", Owner(kAudit), h::GetAuditLog},
    {"POST", "/coffre/audit/verify", "verifyAuditLog", Owner(kAudit), h::VerifyAuditLog},
    {"*", "/coffre/audit", "", Owner(kAudit), h::AuditNotAllowed},
    {"*", "/coffre/audit/verify", "", Owner(kAudit), h::AuditNotAllowed},
    {"*", "/coffre/audit/**", "", Owner(kAudit), h::AuditNotFound},
    {"GET", "/coffre/seal-status", "getSealStatus", Owner("reads the seal status"),
     h::GetSealStatus},
    {"*", "/coffre/seal-status", "", kAnyone, h::NotAllowed},  // 405 before 403, as ever
    {"GET", "/coffre/eventsubscriptions", "listEventSubscriptions", Owner(kSubscriptions),
     h::ListEventSubscriptions, kEventsOn},
    {"POST", "/coffre/eventsubscriptions", "addEventSubscription", Owner(kSubscriptions),
     h::AddEventSubscription, kEventsOn},
    {"*", "/coffre/eventsubscriptions", "", Owner(kSubscriptions), h::NotAllowed, kEventsOn},
    {"GET", "/coffre/eventsubscriptions/{id}", "getEventSubscription", Owner(kSubscriptions),
     h::GetEventSubscription, kEventsOn},
    {"DELETE", "/coffre/eventsubscriptions/{id}", "removeEventSubscription",
     Owner(kSubscriptions), h::RemoveEventSubscription, kEventsOn},
    {"*", "/coffre/eventsubscriptions/{id}", "", Owner(kSubscriptions), h::NotAllowed, kEventsOn},
};

// Whether `segments` fit `pattern`, filling `params`.
bool Fits(std::string_view pattern, const std::vector<std::string_view>& segments,
          RouteParams& params) {
  params = {};
  std::vector<std::string_view> parts = Split(pattern.substr(1), '/');
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string_view part = parts[i];
    if (i >= segments.size()) return false;
    if (part == "**" && i + 1 == parts.size()) return true;
    std::string_view segment = segments[i];
    if (part.empty() || part.front() != '{') {
      if (part != segment) return false;
    } else if (part == "{key}") {
      params.key = segment;
      params.has_key = true;
      params.key_is_name = true;
    } else if (part == "{deleted}") {
      params.key = segment;
      params.has_key = true;
    } else if (part == "{version}") {
      params.version = segment;
    } else if (part == "{op}") {
      params.op = segment;
    } else if (part == "{principal}") {
      params.principal = segment;
    } else if (part == "{id}") {
      params.id = segment;
    }
  }
  return parts.size() == segments.size();
}

}  // namespace

std::span<const Route> VaultRoutes() { return kRoutes; }

RouteMatch MatchRoute(std::span<const Route> routes, std::string_view method,
                      const std::vector<std::string_view>& segments,
                      bool (*available)(RouteNeeds, const void*), const void* context) {
  RouteMatch match;
  RouteParams params;
  for (const Route& route : routes) {
    if (route.needs != RouteNeeds::kNothing && available != nullptr &&
        !available(route.needs, context)) {
      continue;
    }
    if (!Fits(route.pattern, segments, params)) continue;
    if (match.path_route == nullptr) {
      match.path_route = &route;
      match.params = params;
    }
    if (route.method == "*" || route.method == method) {
      match.route = &route;
      match.params = params;
      break;
    }
  }
  return match;
}

std::string_view KeyOperationName(std::string_view segment, bool any) {
  static constexpr std::string_view kServed[] = {"wrapKey", "unwrapKey", "encrypt", "decrypt"};
  static constexpr std::string_view kNamedOnly[] = {"sign", "verify"};
  for (std::string_view op : kServed) {
    if (IEquals(op, segment)) return op;
  }
  if (any) {
    for (std::string_view op : kNamedOnly) {
      if (IEquals(op, segment)) return op;
    }
  }
  return {};
}

std::string_view OperationName(const RouteMatch& match) {
  if (match.route == nullptr) return {};
  if (match.route->operation == "{op}") return KeyOperationName(match.params.op, true);
  return match.route->operation;
}

}  // namespace coffre::vault
