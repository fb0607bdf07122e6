#include "vault/api/rest_api.h"

#include <algorithm>
#include <map>

#include "common/encoding.h"
#include "common/strings.h"
#include "net/health_probe.h"
#include "vault/api/audit_request.h"
#include "vault/api/http_reply.h"
#include "vault/api/route_context.h"
#include "vault/api/routes.h"
#include "vault/audit/audit_log.h"

namespace coffre::vault {
namespace {

using net::HttpRequest;
using net::HttpResponse;

const char* const kApiVersions[] = {"7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6",
                                    "7.6-preview.1", "7.6-preview.2", "2025-07-01"};

// Whether this API has what a route needs (routes.h).
bool Available(RouteNeeds needs, const void* context) {
  const auto& options = *static_cast<const RestApiOptions*>(context);
  switch (needs) {
    case RouteNeeds::kNothing: return true;
    case RouteNeeds::kTestClock: return options.test_clock != nullptr;
    case RouteNeeds::kEventSubscriptions: return options.event_subscriptions != nullptr;
  }
  return false;
}

// 403 ForbiddenByRbac unless the caller's grant reaches `key` (or, for an empty `key`, the
// whole vault: listing, restoring), as Azure answers a role assignment scoped elsewhere.
// Checked before the key is looked up: a scoped caller learns nothing of other keys.
std::optional<HttpResponse> OutOfScope(const RouteContext& c, std::string_view key) {
  if (key.empty() ? !c.caller.Scoped() : c.caller.InScope(key)) return std::nullopt;
  std::string resource = key.empty() ? "the vault" : "key '" + std::string(key) + "'";
  return ErrorReply(403, "Forbidden",
                    "Caller is not authorized to perform action on resource: the access "
                    "of '" + c.caller.name + "' is limited to named keys and does not "
                    "include " + resource + " of key vault '" + c.options.public_origin + "'.",
                    "ForbiddenByRbac");
}

// 403 AccessDenied unless the caller holds the keys permission `permission`.
std::optional<HttpResponse> Deny(const RouteContext& c, const std::string& permission) {
  if (c.caller.Can(permission)) return std::nullopt;
  return ErrorReply(403, "Forbidden",
                    "The user, group or application '" + c.caller.name +
                        "' does not have keys " + permission + " permission on key vault '" +
                        c.options.public_origin + "'.",
                    "AccessDenied");
}

// The route's permission (routes.h), or the refusal.
std::optional<HttpResponse> Refuse(RouteContext& c, const Permission& permission) {
  switch (permission.kind) {
    case Permission::Kind::kNone:
      return std::nullopt;
    case Permission::Kind::kKey:
      if (!c.params.has_key) {  // an operation on the whole vault
        if (auto d = OutOfScope(c, "")) return d;
      }
      return Deny(c, std::string(permission.name));
    case Permission::Kind::kKeyOperation:
      c.operation = KeyOperationName(c.params.op);
      if (c.operation.empty()) {
        return ErrorReply(400, "BadParameter",
                          "Operation '" + std::string(c.params.op) + "' is not supported.");
      }
      return Deny(c, c.operation);
    case Permission::Kind::kOwner:
      if (c.caller.admin) return std::nullopt;
      return ErrorReply(403, "Forbidden",
                        "Only the vault owner " + std::string(permission.name) + ".",
                        "AccessDenied");
  }
  return std::nullopt;
}

}  // namespace

HttpResponse RestApi::Error(unsigned status, std::string_view code, std::string_view message,
                            std::string_view inner) {
  return ErrorReply(status, code, message, inner);
}

HttpResponse RestApi::Challenge(const HttpRequest& request, std::string_view message) const {
  // Every failed authentication is charged to its client address; past the limit, 429.
  if (options_.auth_failures != nullptr) {
    std::chrono::milliseconds wait =
        options_.auth_failures->Take(
            request.remote_address,
            (options_.clock != nullptr ? *options_.clock : SystemClock()).SteadyNow());
    if (wait.count() > 0) {
      HttpResponse r = Error(429, "Throttled",
                             "Too many requests with no valid token from this address. Retry "
                             "after the time the Retry-After header gives.");
      r.headers.emplace_back("Retry-After", std::to_string((wait.count() + 999) / 1000));
      return r;
    }
  }
  HttpResponse r = Error(401, "Unauthorized", message);
  r.headers.emplace_back("WWW-Authenticate", "Bearer authorization=\"" +
                                                 options_.challenge_authorization +
                                                 "\", resource=\"" +
                                                 options_.challenge_resource + "\"");
  return r;
}

std::variant<Principal, HttpResponse> RestApi::Authenticate(const HttpRequest& request) {
  std::string_view auth = request.Header("Authorization");
  if (auth.size() < 7 || !IEquals(auth.substr(0, 7), "Bearer ")) {
    return Challenge(request, "Request is missing a Bearer or PoP token.");
  }
  Result<Principal> caller = access_.Authenticate(auth.substr(7));
  if (!caller.has_value()) {
    if (caller.error().code() == StatusCode::kUnauthenticated) {
      return Challenge(request, caller.error().message() == "invalid token"
                                    ? "The bearer token is not valid."
                                    : caller.error().message());
    }
    return KeyVaultError(caller.error());
  }
  return std::move(*caller);
}

HttpResponse RestApi::ServeMetrics(const HttpRequest& request, std::string& principal) {
  if (request.method != "GET" && request.method != "HEAD") {
    HttpResponse r = MethodNotAllowed();
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  }
  if (!options_.metrics_open) {
    std::variant<Principal, HttpResponse> authenticated = Authenticate(request);
    if (auto* refused = std::get_if<HttpResponse>(&authenticated)) return std::move(*refused);
    principal = std::get<Principal>(authenticated).name;
  }
  HttpResponse r;
  r.content_type = std::string(metrics::kTextContentType);
  r.headers.emplace_back("Cache-Control", "no-store");
  if (request.method == "GET") r.body = options_.metrics->registry().Render();
  return r;
}

HttpResponse RestApi::Handle(const HttpRequest& request) {
  // Probes carry no token and are not audited: a load balancer asks every few seconds.
  if (auto probe = net::HealthProbe(request, options_.not_ready)) return std::move(*probe);
  auto started = std::chrono::steady_clock::now();
  std::string principal;
  HttpResponse response = options_.metrics != nullptr && IsMetricsPath(request)
                              ? ServeMetrics(request, principal)
                              : Serve(request, principal);
  if (options_.metrics != nullptr) {
    options_.metrics->Request(OperationOf(request), response.status, started);
  }
  if (audit_ != nullptr) {
    AuditEntry entry = DescribeRequest(request, principal, response);
    if (principal.empty()) {
      audit_->AppendUnauthenticated(entry);  // sampled: anyone can send these
    } else {
      audit_->Append(entry);
    }
  }
  return response;
}

HttpResponse RestApi::Serve(const HttpRequest& request, std::string& principal) {
  std::string_view target = request.target;
  size_t q = target.find('?');
  std::string path(target.substr(0, q));
  std::map<std::string, std::string> query;
  if (q != std::string_view::npos) {
    for (std::string_view pair : Split(target.substr(q + 1), '&')) {
      if (pair.empty()) continue;
      size_t eq = pair.find('=');
      query[PercentDecode(pair.substr(0, eq), true)] =
          eq == std::string_view::npos ? "" : PercentDecode(pair.substr(eq + 1), true);
    }
  }
  // Authentication comes first: the SDK's first request has no token and no body.
  std::variant<Principal, HttpResponse> authenticated = Authenticate(request);
  if (auto* refused = std::get_if<HttpResponse>(&authenticated)) return std::move(*refused);
  Principal* caller = &std::get<Principal>(authenticated);
  principal = caller->name;
  auto version = query.find("api-version");
  if (version == query.end()) {
    return Error(400, "BadParameter", "The api-version query parameter is missing.");
  }
  if (std::find(std::begin(kApiVersions), std::end(kApiVersions), version->second) ==
      std::end(kApiVersions)) {
    return Error(400, "BadParameter",
                 "The api-version '" + version->second + "' is not supported.");
  }
  if (path.empty() || path[0] != '/') return UnknownPath();
  std::vector<std::string> segments;
  for (std::string_view segment : Split(std::string_view(path).substr(1), '/')) {
    segments.emplace_back(segment);
  }
  RouteContext context{vault_,  access_, options_, backup_,        audit_, request,
                       *caller, version->second,   query,    RouteParams{}, {}};
  return Dispatch(context, segments);
}

// In the order the header states: the path (404), the key's name (400) and scope (403), the
// method (405), the route's permission (403, or 400 for an unknown key operation), then the
// handler.
HttpResponse RestApi::Dispatch(RouteContext& context, const std::vector<std::string>& segments) {
  std::vector<std::string_view> views(segments.begin(), segments.end());
  RouteMatch match =
      MatchRoute(VaultRoutes(), context.request.method, views, Available, &options_);
  if (match.path_route == nullptr) return UnknownPath();
  context.params = match.params;
  if (context.params.has_key) {
    std::string key(context.params.key);
    if (context.params.key_is_name && !KeyVault::ValidName(key)) {
      return Error(400, "BadParameter",
                   "The key name '" + key + "' is invalid: use 1-127 of 0-9 a-z A-Z -.");
    }
    if (auto d = OutOfScope(context, key)) return *d;
  }
  if (match.route == nullptr) return MethodNotAllowed();
  if (auto refused = Refuse(context, match.route->permission)) return *refused;
  return match.route->handler(context);
}

}  // namespace coffre::vault
