#pragma once
// The vault's one route table: every route of the API as {method, pattern, operation,
// permission, handler}. RestApi dispatches through it and the audit log names requests from
// it (audit_request.h), so a route is added in one place.
//
// Patterns are path segments: literals match exactly; a {placeholder} matches any one segment
// (also an empty one); a final ** matches one or more further segments. Placeholders:
//   {key}      a key name: checked (KeyVault::ValidName, 400) and in the caller's scope (403
//              ForbiddenByRbac) before the method is, as Azure answers
//   {deleted}  a deleted key's name: in the caller's scope
//   {version}  a key version ("" is the latest)
//   {op}       a key operation (wrapKey, unwrapKey, encrypt, decrypt; any case)
//   {principal}, {id}
// Method "*" matches any method: such a route is a path's fallback (405, 404, ...), after the
// path's real routes. A path that matches a pattern but no route's method gets 405; a path
// that matches none, 404.
// Stateless, thread-safe.

#include <span>
#include <string_view>
#include <vector>

#include "net/http_types.h"

namespace coffre::vault {

struct RouteContext;  // vault/api/route_context.h

// Who may call a route; checked after the route is chosen, before its handler runs.
struct Permission {
  enum class Kind {
    kNone,          // the handler decides (fallbacks)
    kKey,           // the keys permission `name`; routes without {key}/{deleted} act on the
                    // whole vault, which a key-scoped caller may not (403 ForbiddenByRbac)
    kKeyOperation,  // the permission named by {op}, once it is a supported operation (else 400)
    kOwner,         // the vault owner (an admin principal); `name` says what only it does
  };
  Kind kind = Kind::kNone;
  std::string_view name;
};

// What a route needs configured; without it the route does not exist (404).
enum class RouteNeeds { kNothing, kTestClock, kEventSubscriptions };

using RouteHandler = net::HttpResponse (*)(RouteContext&);

struct Route {
  std::string_view method;     // "GET", "PUT", ...; "*": any
  std::string_view pattern;    // "/keys/{key}/{version}/{op}"
  std::string_view operation;  // the audit log's name; "{op}": the key operation; "": none
  Permission permission;
  RouteHandler handler;
  RouteNeeds needs = RouteNeeds::kNothing;
};

// The placeholders a path filled in (views into its segments).
struct RouteParams {
  std::string_view key;      // {key} or {deleted}
  bool has_key = false;      // the pattern has {key} or {deleted}
  bool key_is_name = false;  // from {key}: a name to validate
  std::string_view version, op, principal, id;
};

struct RouteMatch {
  const Route* route = nullptr;       // the route for the path and method, if any
  const Route* path_route = nullptr;  // the first route for the path, whatever the method
  RouteParams params;                 // of `route`, else of `path_route`
};

// The table.
std::span<const Route> VaultRoutes();

// Matches `segments` (the path after its leading '/', split at '/') and `method` against
// `routes`, skipping routes whose needs `available` refuses (null: all are available).
RouteMatch MatchRoute(std::span<const Route> routes, std::string_view method,
                      const std::vector<std::string_view>& segments,
                      bool (*available)(RouteNeeds, const void*) = nullptr,
                      const void* context = nullptr);

// The canonical name of a key operation in a path ("wrapkey" -> "wrapKey"): the ones the vault
// serves, or with `any`, every Azure key operation (sign, verify: named in the audit log,
// refused with 400). "" if none.
std::string_view KeyOperationName(std::string_view segment, bool any = false);

// The audit name of a matched request: the route's operation ("{op}" resolved); "" if none.
std::string_view OperationName(const RouteMatch& match);

}  // namespace coffre::vault
