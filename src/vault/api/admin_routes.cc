// The handlers of Coffre's owner routes under /coffre/ (routes.h): principals, the test clock,
// the seal status, the audit log and event subscriptions. The route table has checked that the
// caller is the owner before any of them runs (except the fallbacks it says so of).
#include <set>

#include <nlohmann/json.hpp>

#include "vault/api/audit_api.h"
#include "vault/api/event_subscriptions_api.h"
#include "vault/api/http_reply.h"
#include "vault/api/route_context.h"

namespace coffre::vault::route_handlers {
namespace {

using nlohmann::json;
using net::HttpResponse;

constexpr size_t kMaxScopeKeys = 256;

json PrincipalView(const Principal& p) {
  return json{{"name", p.name},
              {"permissions", {{"keys", json(p.permissions)}}},
              {"admin", p.admin},
              {"scope", p.key_scope ? json{{"keys", json(*p.key_scope)}} : json(nullptr)}};
}

}  // namespace

HttpResponse ListPrincipals(RouteContext& c) {
  COFFRE_HTTP_ASSIGN_OR_RETURN(auto all, c.access.ListPrincipals());
  json value = json::array();
  for (const auto& p : all) value.push_back(PrincipalView(p));
  return JsonReply(json{{"value", value}, {"nextLink", nullptr}});
}

HttpResponse GetPrincipal(RouteContext& c) {
  Result<Principal> p = c.access.GetPrincipal(std::string(c.params.principal));
  if (!p.has_value() && p.error().code() == StatusCode::kNotFound) {
    return ErrorReply(404, "PrincipalNotFound", p.error().message());
  }
  COFFRE_HTTP_ASSIGN_OR_RETURN(Principal found, std::move(p));
  return JsonReply(PrincipalView(found));
}

HttpResponse DeletePrincipal(RouteContext& c) {
  std::string name(c.params.principal);
  if (name == c.caller.name) {
    return ErrorReply(400, "BadParameter", "A principal cannot delete itself.");
  }
  COFFRE_HTTP_RETURN_IF_ERROR(c.access.DeletePrincipal(name));
  return NoContent();
}

HttpResponse SetPrincipal(RouteContext& c) {
  COFFRE_HTTP_ASSIGN_OR_RETURN(json body, ParseJsonBody(c.request, true));
  COFFRE_HTTP_ASSIGN_OR_RETURN(auto perms, BodyField<json>(body, "permissions"));
  std::set<std::string> set;
  if (perms) {
    COFFRE_HTTP_ASSIGN_OR_RETURN(auto keys, BodyField<std::vector<std::string>>(*perms, "keys"));
    for (const auto& p : keys.value_or(std::vector<std::string>{})) {
      COFFRE_HTTP_ASSIGN_OR_RETURN(std::string canonical, CanonicalPermission(p));
      set.insert(canonical);
    }
  }
  // "scope": {"keys": [names]} limits the grant to those keys; absent or null: every key.
  COFFRE_HTTP_ASSIGN_OR_RETURN(auto scope_body, BodyField<json>(body, "scope"));
  std::optional<std::set<std::string>> scope;
  if (scope_body) {
    COFFRE_HTTP_ASSIGN_OR_RETURN(auto keys,
                                 BodyField<std::vector<std::string>>(*scope_body, "keys"));
    if (!keys) return ErrorReply(400, "BadParameter", "scope.keys must list the key names.");
    if (keys->size() > kMaxScopeKeys) {
      return ErrorReply(400, "BadParameter", "scope.keys names too many keys.");
    }
    scope.emplace(keys->begin(), keys->end());
  }
  COFFRE_HTTP_ASSIGN_OR_RETURN(auto admin, BodyField<bool>(body, "admin"));
  COFFRE_HTTP_ASSIGN_OR_RETURN(auto ttl, BodyField<int64_t>(body, "token_ttl_seconds"));
  if (ttl && (*ttl < 1 || *ttl > int64_t{10} * 365 * 86400)) {
    return ErrorReply(400, "BadParameter", "token_ttl_seconds must be 1 to 10 years.");
  }
  bool rotate = c.query.count("rotateToken") && c.query.at("rotateToken") == "true";
  COFFRE_HTTP_ASSIGN_OR_RETURN(PrincipalUpdate u,
                               c.access.SetPrincipal(std::string(c.params.principal),
                                                     std::move(set), admin, rotate, ttl,
                                                     std::move(scope)));
  json out = PrincipalView(u.principal);
  if (u.token) out["token"] = *u.token;
  return JsonReply(out);
}

// The test clock exists with --test-clock only (the route needs it).
HttpResponse GetTestClock(RouteContext& c) {
  const VaultClock& clock = *c.options.test_clock;
  return JsonReply(json{{"now", clock.NowSeconds()}, {"offset_seconds", clock.offset()}});
}

// POST {"advance_seconds": N} moves it on.
HttpResponse AdvanceTestClock(RouteContext& c) {
  COFFRE_HTTP_ASSIGN_OR_RETURN(json body, ParseJsonBody(c.request, true));
  COFFRE_HTTP_ASSIGN_OR_RETURN(auto seconds, BodyField<int64_t>(body, "advance_seconds"));
  if (!seconds) {
    return ErrorReply(400, "BadParameter", "The field 'advance_seconds' is required.");
  }
  COFFRE_HTTP_RETURN_IF_ERROR(c.options.test_clock->Advance(*seconds));
  return GetTestClock(c);
}

HttpResponse GetSealStatus(RouteContext& c) { return JsonReply(c.options.seal_status); }

HttpResponse GetAuditLog(RouteContext& c) { return ShowAuditLog(c.audit, c.query); }
HttpResponse VerifyAuditLog(RouteContext& c) { return vault::VerifyAuditLog(c.audit); }
HttpResponse AuditNotAllowed(RouteContext& c) {
  return c.audit == nullptr ? NoAuditLog() : MethodNotAllowed();
}
HttpResponse AuditNotFound(RouteContext& c) {
  return c.audit == nullptr ? NoAuditLog() : UnknownPath();
}

// The event subscription routes exist only with subscriptions (the routes need them).
HttpResponse ListEventSubscriptions(RouteContext& c) {
  return vault::ListEventSubscriptions(*c.options.event_subscriptions);
}
HttpResponse AddEventSubscription(RouteContext& c) {
  return vault::AddEventSubscription(*c.options.event_subscriptions, c.request);
}
HttpResponse GetEventSubscription(RouteContext& c) {
  return vault::GetEventSubscription(*c.options.event_subscriptions, std::string(c.params.id));
}
HttpResponse RemoveEventSubscription(RouteContext& c) {
  return vault::RemoveEventSubscription(*c.options.event_subscriptions,
                                        std::string(c.params.id));
}

HttpResponse NotAllowed(RouteContext&) { return MethodNotAllowed(); }
HttpResponse NotFound(RouteContext&) { return UnknownPath(); }

}  // namespace coffre::vault::route_handlers
