#include "vault/api/rest_api.h"

#include <algorithm>
#include <map>
#include <strings.h>

#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "common/json_fields.h"
#include "common/strings.h"
#include "net/http_error.h"
#include "vault/api/audit_api.h"
#include "vault/audit/audit_log.h"
#include "vault/api/audit_request.h"
#include "vault/api/event_subscriptions_api.h"

namespace coffre::vault {
namespace {

using nlohmann::json;
using net::HttpRequest;
using net::HttpResponse;

constexpr size_t kMaxPageSize = 25;
constexpr size_t kMaxScopeKeys = 256;

// Like COFFRE_ASSIGN_OR_RETURN / COFFRE_RETURN_IF_ERROR, but return the error as an HTTP
// response (see FromStatus).
#define COFFRE_HTTP_ASSIGN_OR_RETURN(lhs, expr) \
  COFFRE_HTTP_ASSIGN_OR_RETURN_IMPL_(COFFRE_CONCAT_(coffre_http_, __LINE__), lhs, expr)
#define COFFRE_HTTP_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                       \
  if (!tmp.has_value()) return FromStatus(tmp.error());   \
  lhs = std::move(tmp).value()
#define COFFRE_HTTP_RETURN_IF_ERROR(expr)                  \
  do {                                                     \
    ::coffre::Status coffre_http_s_ = (expr);              \
    if (!coffre_http_s_.ok()) return FromStatus(coffre_http_s_); \
  } while (false)

const char* const kApiVersions[] = {"7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6",
                                    "7.6-preview.1", "7.6-preview.2", "2025-07-01"};

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// base64url on input in either alphabet, with or without padding, as the SDK allows.
Result<Bytes> DecodeLenient(std::string_view text) {
  std::string s(text);
  for (char& c : s) {
    if (c == '+') c = '-';
    else if (c == '/') c = '_';
  }
  return Base64UrlDecode(s);
}

// How the vault's Status codes read over HTTP, as Azure Key Vault replies; a Status's detail
// becomes innererror.
const net::HttpErrorTable kKeyVaultErrors(
    {{StatusCode::kInvalidArgument, {400, "BadParameter"}},
     {StatusCode::kUnauthenticated, {401, "Unauthorized"}},
     {StatusCode::kPermissionDenied, {403, "Forbidden"}},
     {StatusCode::kFailedPrecondition, {403, "Forbidden"}},
     {StatusCode::kNotFound, {404, "KeyNotFound"}},
     {StatusCode::kAlreadyExists, {409, "Conflict"}},
     {StatusCode::kUnimplemented, {501, "NotImplemented"}},
     {StatusCode::kUnavailable, {503, "ServiceUnavailable"}}},
    {500, "InternalError"});

HttpResponse FromStatus(const Status& s) {
  net::HttpError e = net::HttpErrorFor(s, kKeyVaultErrors);
  return RestApi::Error(e.status, e.code, s.message(), e.detail);
}

HttpResponse Ok(const json& body, unsigned status = 200) {
  HttpResponse r;
  r.status = status;
  // Messages echo parts of the request, which may not be UTF-8: replace, never throw.
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

Result<json> ParseBody(const HttpRequest& req, bool required) {
  if (req.body.empty()) {
    if (required) return InvalidArgument("The request body is empty; a JSON object is required.");
    return json::object();
  }
  json j = json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return InvalidArgument("The request body is not a valid JSON object.");
  }
  return j;
}

// Reads an optional field of a given JSON type (null counts as absent); INVALID_ARGUMENT if
// present with another type, or an integer out of T's range (common/json_fields.h).
template <typename T>
Result<std::optional<T>> Field(const json& j, const char* name) {
  COFFRE_ASSIGN_OR_RETURN(JsonFields fields, JsonFields::Of(j));
  if constexpr (std::is_same_v<T, json>) {  // an object, kept as JSON
    COFFRE_ASSIGN_OR_RETURN(std::optional<JsonFields> object, fields.Nullable<JsonFields>(name));
    if (!object) return std::optional<json>();
    return std::optional<json>(object->object());
  } else {
    return fields.Nullable<T>(name);
  }
}

Result<KeyAttributesPatch> ParseAttributes(const json& body) {
  KeyAttributesPatch patch;
  COFFRE_ASSIGN_OR_RETURN(auto attrs, Field<json>(body, "attributes"));
  if (!attrs) return patch;
  COFFRE_ASSIGN_OR_RETURN(patch.enabled, Field<bool>(*attrs, "enabled"));
  for (auto [name, slot] : {std::pair{"nbf", &patch.nbf}, std::pair{"exp", &patch.exp}}) {
    auto it = attrs->find(name);
    if (it == attrs->end()) continue;
    if (it->is_null()) {
      *slot = std::optional<int64_t>();
    } else if (it->is_number_integer()) {
      *slot = std::optional<int64_t>(it->get<int64_t>());
    } else {
      return InvalidArgument(std::string("attributes.") + name + " must be an integer IntDate.");
    }
  }
  return patch;
}

Result<std::optional<std::vector<std::string>>> ParseKeyOps(const json& body) {
  return Field<std::vector<std::string>>(body, "key_ops");
}

Result<json> ParseTags(const json& body) {
  COFFRE_ASSIGN_OR_RETURN(auto tags, Field<json>(body, "tags"));
  if (!tags) return json::object();
  for (auto& [k, v] : tags->items()) {
    if (!v.is_string()) return InvalidArgument("tags values must be strings");
  }
  return *tags;
}

}  // namespace

struct RestApi::Call {
  const HttpRequest& request;
  std::string path;
  std::map<std::string, std::string> query;
  std::vector<std::string> segments;
  Principal caller;
  std::string api_version;
};

HttpResponse RestApi::Error(unsigned status, std::string_view code, std::string_view message,
                            std::string_view inner) {
  json err = {{"code", code}, {"message", message}};
  if (!inner.empty()) err["innererror"] = {{"code", inner}};
  return Ok(json{{"error", err}}, status);
}

HttpResponse RestApi::Challenge(const HttpRequest& request, std::string_view message) const {
  // Every failed authentication is charged to its client address; past the limit, 429.
  if (options_.auth_failures != nullptr) {
    std::chrono::milliseconds wait =
        options_.auth_failures->Take(request.remote_address, options_.steady_now());
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

HttpResponse RestApi::Handle(const HttpRequest& request) {
  std::string principal;
  HttpResponse response = Serve(request, principal);
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
  Call call{request, {}, {}, {}, {}, {}};
  std::string_view target = request.target;
  size_t q = target.find('?');
  call.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) {
    for (std::string_view pair : Split(target.substr(q + 1), '&')) {
      if (pair.empty()) continue;
      size_t eq = pair.find('=');
      call.query[PercentDecode(pair.substr(0, eq), true)] =
          eq == std::string_view::npos ? "" : PercentDecode(pair.substr(eq + 1), true);
    }
  }
  // Authentication comes first: the SDK's first request has no token and no body.
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
    return FromStatus(caller.error());
  }
  call.caller = std::move(*caller);
  principal = call.caller.name;
  auto version = call.query.find("api-version");
  if (version == call.query.end()) {
    return Error(400, "BadParameter", "The api-version query parameter is missing.");
  }
  if (std::find(std::begin(kApiVersions), std::end(kApiVersions), version->second) ==
      std::end(kApiVersions)) {
    return Error(400, "BadParameter",
                 "The api-version '" + version->second + "' is not supported.");
  }
  call.api_version = version->second;
  if (call.path.empty() || call.path[0] != '/') return Error(404, "NotFound", "Unknown path.");
  for (std::string_view segment : Split(std::string_view(call.path).substr(1), '/')) {
    call.segments.emplace_back(segment);
  }
  return Route(call);
}

namespace {

// Everything below works on one authenticated call.
class Handler {
 public:
  Handler(KeyVault& vault, AccessControl& access, const RestApiOptions& options,
          const KeyBackup* backup, const Principal& caller, const std::string& api_version,
          const std::map<std::string, std::string>& query, const HttpRequest& request)
      : vault_(vault), access_(access), options_(options), backup_(backup), caller_(caller),
        api_version_(api_version), query_(query), request_(request) {}

  // 403 AccessDenied unless the caller holds `permission`.
  std::optional<HttpResponse> Deny(const std::string& permission) const {
    if (caller_.Can(permission)) return std::nullopt;
    return RestApi::Error(403, "Forbidden",
                          "The user, group or application '" + caller_.name +
                              "' does not have keys " + permission +
                              " permission on key vault '" + options_.public_origin + "'.",
                          "AccessDenied");
  }

  // 403 ForbiddenByRbac unless the caller's grant reaches `key` (or, for an empty `key`, the
  // whole vault: listing, restoring), as Azure answers a role assignment scoped elsewhere.
  // Checked before the key is looked up: a scoped caller learns nothing of other keys.
  std::optional<HttpResponse> OutOfScope(const std::string& key = "") const {
    if (key.empty() ? !caller_.Scoped() : caller_.InScope(key)) return std::nullopt;
    std::string resource = key.empty() ? "the vault" : "key '" + key + "'";
    return RestApi::Error(403, "Forbidden",
                          "Caller is not authorized to perform action on resource: the access "
                          "of '" + caller_.name + "' is limited to named keys and does not "
                          "include " + resource + " of key vault '" + options_.public_origin +
                          "'.",
                          "ForbiddenByRbac");
  }

  std::string Kid(const std::string& name, const std::string& version = "") const {
    std::string kid = options_.public_origin + "/keys/" + name;
    if (!version.empty()) kid += "/" + version;
    return kid;
  }

  json Attributes(const KeyVersion& v) const {
    json a = {{"enabled", v.enabled},
              {"created", v.created},
              {"updated", v.updated},
              {"recoveryLevel", vault_.settings().RecoveryLevel()},
              {"recoverableDays", vault_.settings().retention_days}};
    if (v.nbf) a["nbf"] = *v.nbf;
    if (v.exp) a["exp"] = *v.exp;
    return a;
  }

  json Bundle(const KeyVersion& v) const {
    json key = {{"kid", Kid(v.name, v.version)}, {"kty", v.kty}, {"key_ops", v.key_ops}};
    if (!v.n.empty()) {
      key["n"] = Base64UrlEncode(v.n);
      key["e"] = Base64UrlEncode(v.e);
    }
    json b = {{"key", key}, {"attributes", Attributes(v)}};
    if (!v.tags.empty()) b["tags"] = v.tags;
    return b;
  }

  json Item(const KeyVersion& v, bool versioned) const {
    json item = {{"kid", Kid(v.name, versioned ? v.version : "")}, {"attributes", Attributes(v)}};
    if (!v.tags.empty()) item["tags"] = v.tags;
    return item;
  }

  json Deleted(const DeletedKey& d, json base) const {
    base["recoveryId"] = options_.public_origin + "/deletedkeys/" + d.latest.name;
    base["deletedDate"] = d.deleted_date;
    base["scheduledPurgeDate"] = d.scheduled_purge_date;
    return base;
  }

  // One page of `items` (already in order), continuing after $skiptoken.
  HttpResponse Page(const std::string& path, std::vector<json> items,
                    const std::vector<std::string>& sort_keys) const {
    size_t page = kMaxPageSize;
    if (auto it = query_.find("maxresults"); it != query_.end()) {
      int n = std::atoi(it->second.c_str());
      if (n < 1 || n > int(kMaxPageSize)) {
        return RestApi::Error(400, "BadParameter", "maxresults must be between 1 and 25.");
      }
      page = static_cast<size_t>(n);
    }
    size_t start = 0;
    if (auto it = query_.find("$skiptoken"); it != query_.end()) {
      start = std::upper_bound(sort_keys.begin(), sort_keys.end(), it->second) - sort_keys.begin();
    }
    json value = json::array();
    for (size_t i = start; i < items.size() && i < start + page; ++i) value.push_back(items[i]);
    json body = {{"value", value}, {"nextLink", nullptr}};
    if (start + page < items.size()) {
      body["nextLink"] = options_.public_origin + path + "?api-version=" + api_version_ +
                         "&maxresults=" + std::to_string(page) +
                         "&$skiptoken=" + sort_keys[start + page - 1];
    }
    return Ok(body);
  }

  HttpResponse Create(const std::string& name) {
    if (auto d = Deny("create")) return *d;
    COFFRE_HTTP_ASSIGN_OR_RETURN(json body, ParseBody(request_, true));
    CreateKeyRequest req;
    COFFRE_HTTP_ASSIGN_OR_RETURN(auto kty, Field<std::string>(body, "kty"));
    if (!kty) return RestApi::Error(400, "BadParameter", "The field 'kty' is required.");
    req.kty = *kty;
    COFFRE_HTTP_ASSIGN_OR_RETURN(auto size, Field<int>(body, "key_size"));
    req.key_size = size;
    COFFRE_HTTP_ASSIGN_OR_RETURN(auto exponent, Field<int64_t>(body, "public_exponent"));
    if (exponent) {
      if (*exponent <= 0 || *exponent > 0xFFFFFFFFll) {
        return RestApi::Error(400, "BadParameter", "public_exponent is out of range.");
      }
      req.public_exponent = static_cast<uint32_t>(*exponent);
    }
    COFFRE_HTTP_ASSIGN_OR_RETURN(req.key_ops, ParseKeyOps(body));
    COFFRE_HTTP_ASSIGN_OR_RETURN(req.attributes, ParseAttributes(body));
    COFFRE_HTTP_ASSIGN_OR_RETURN(req.tags, ParseTags(body));
    COFFRE_HTTP_ASSIGN_OR_RETURN(KeyVersion v, vault_.Create(name, req));
    return Ok(Bundle(v));
  }

  HttpResponse Import(const std::string& name) {
    if (auto d = Deny("import")) return *d;
    COFFRE_HTTP_ASSIGN_OR_RETURN(json body, ParseBody(request_, true));
    COFFRE_HTTP_ASSIGN_OR_RETURN(auto jwk, Field<json>(body, "key"));
    if (!jwk) return RestApi::Error(400, "BadParameter", "The field 'key' is required.");
    COFFRE_HTTP_ASSIGN_OR_RETURN(auto kty, Field<std::string>(*jwk, "kty"));
    COFFRE_HTTP_ASSIGN_OR_RETURN(auto hsm, Field<bool>(body, "Hsm"));
    ImportKeyRequest req;
    auto part = [&](const char* field) -> Result<Bytes> {
      COFFRE_ASSIGN_OR_RETURN(auto text, Field<std::string>(*jwk, field));
      if (!text) return Bytes{};
      return DecodeLenient(*text);
    };
    Result<KeyMaterial> material = InvalidArgument("The JWK kty must be RSA, RSA-HSM, oct or oct-HSM.");
    std::string base = kty.value_or("");
    if (base == "RSA" || base == "RSA-HSM") {
      RsaPrivateParts p;
      for (auto [field, slot] : {std::pair{"n", &p.n}, {"e", &p.e}, {"d", &p.d}, {"p", &p.p},
                                 {"q", &p.q}, {"dp", &p.dp}, {"dq", &p.dq}, {"qi", &p.qi}}) {
        COFFRE_HTTP_ASSIGN_OR_RETURN(*slot, part(field));
      }
      material = ImportRsa(p);
      for (Bytes* b : {&p.d, &p.p, &p.q, &p.dp, &p.dq, &p.qi}) crypto::Cleanse(*b);
      req.kty = (hsm.value_or(false) || base == "RSA-HSM") ? "RSA-HSM" : "RSA";
    } else if (base == "oct" || base == "oct-HSM") {
      COFFRE_HTTP_ASSIGN_OR_RETURN(Bytes k, part("k"));
      material = ImportOct(k);
      crypto::Cleanse(k);
      req.kty = (hsm.value_or(false) || base == "oct-HSM") ? "oct-HSM" : "oct";
    }
    COFFRE_HTTP_ASSIGN_OR_RETURN(req.material, std::move(material));
    COFFRE_HTTP_ASSIGN_OR_RETURN(req.key_ops, Field<std::vector<std::string>>(*jwk, "key_ops"));
    COFFRE_HTTP_ASSIGN_OR_RETURN(req.attributes, ParseAttributes(body));
    COFFRE_HTTP_ASSIGN_OR_RETURN(req.tags, ParseTags(body));
    COFFRE_HTTP_ASSIGN_OR_RETURN(KeyVersion v, vault_.Import(name, std::move(req)));
    return Ok(Bundle(v));
  }

  HttpResponse Update(const std::string& name, const std::string& version) {
    if (auto d = Deny("update")) return *d;
    COFFRE_HTTP_ASSIGN_OR_RETURN(json body, ParseBody(request_, true));
    UpdateKeyRequest req;
    COFFRE_HTTP_ASSIGN_OR_RETURN(req.key_ops, ParseKeyOps(body));
    COFFRE_HTTP_ASSIGN_OR_RETURN(req.attributes, ParseAttributes(body));
    if (body.contains("tags")) {
      COFFRE_HTTP_ASSIGN_OR_RETURN(json tags, ParseTags(body));
      req.tags = tags;
    }
    COFFRE_HTTP_ASSIGN_OR_RETURN(KeyVersion v, vault_.Update(name, version, req));
    return Ok(Bundle(v));
  }

  HttpResponse Operate(const std::string& name, const std::string& version, std::string op) {
    static const std::pair<const char*, const char*> kOps[] = {
        {"wrapkey", "wrapKey"}, {"unwrapkey", "unwrapKey"}, {"encrypt", "encrypt"},
        {"decrypt", "decrypt"}};
    std::string canonical;
    for (auto [lower, name_] : kOps) {
      if (IEquals(op, lower)) canonical = name_;
    }
    if (canonical.empty()) {
      return RestApi::Error(400, "BadParameter", "Operation '" + op + "' is not supported.");
    }
    if (auto d = Deny(canonical)) return *d;
    COFFRE_HTTP_ASSIGN_OR_RETURN(json body, ParseBody(request_, true));
    COFFRE_HTTP_ASSIGN_OR_RETURN(auto alg, Field<std::string>(body, "alg"));
    COFFRE_HTTP_ASSIGN_OR_RETURN(auto value, Field<std::string>(body, "value"));
    if (!alg || !value) {
      return RestApi::Error(400, "BadParameter", "The fields 'alg' and 'value' are required.");
    }
    if (!IsRsaAlgorithm(*alg) && !IsKeyWrapAlgorithm(*alg)) {
      return RestApi::Error(400, "BadParameter", "The algorithm '" + *alg + "' is not supported.");
    }
    Result<Bytes> input = DecodeLenient(*value);
    if (!input.has_value()) {
      return RestApi::Error(400, "BadParameter", "The value is not valid base64url.");
    }
    COFFRE_HTTP_ASSIGN_OR_RETURN(OperationResult r, vault_.Operate(name, version, canonical, *alg, *input));
    HttpResponse response =
        Ok(json{{"kid", Kid(r.name, r.version)}, {"value", Base64UrlEncode(r.value)}});
    crypto::Cleanse(r.value);
    return response;
  }

  // All versions of the key, sealed for this vault's master key lineage (key_backup.h).
  HttpResponse Backup(const std::string& name) {
    if (auto d = Deny("backup")) return *d;
    if (backup_ == nullptr) return BackupUnavailable();
    COFFRE_HTTP_ASSIGN_OR_RETURN(KeySnapshot snapshot, vault_.Snapshot(name));
    COFFRE_HTTP_ASSIGN_OR_RETURN(Bytes blob, backup_->Seal(snapshot));
    return Ok(json{{"value", Base64UrlEncode(blob)}});
  }

  HttpResponse Restore() {
    if (auto d = Deny("restore")) return *d;
    if (backup_ == nullptr) return BackupUnavailable();
    COFFRE_HTTP_ASSIGN_OR_RETURN(json body, ParseBody(request_, true));
    COFFRE_HTTP_ASSIGN_OR_RETURN(auto value, Field<std::string>(body, "value"));
    if (!value) return RestApi::Error(400, "BadParameter", "The field 'value' is required.");
    Result<Bytes> blob = DecodeLenient(*value);
    if (!blob.has_value()) {
      return RestApi::Error(400, "BadParameter", "The value is not valid base64url.");
    }
    COFFRE_HTTP_ASSIGN_OR_RETURN(KeySnapshot snapshot, backup_->Open(*blob));
    COFFRE_HTTP_ASSIGN_OR_RETURN(KeyVersion v, vault_.Restore(snapshot));
    return Ok(Bundle(v));
  }

  static HttpResponse BackupUnavailable() {
    return RestApi::Error(501, "NotImplemented", "Key backup and restore are not configured.");
  }

  HttpResponse Principals(const std::vector<std::string>& seg, const std::string& method) {
    if (!caller_.admin) {
      return RestApi::Error(403, "Forbidden", "Only the vault owner manages principals.",
                            "AccessDenied");
    }
    auto view = [](const Principal& p) {
      return json{{"name", p.name},
                  {"permissions", {{"keys", json(p.permissions)}}},
                  {"admin", p.admin},
                  {"scope", p.key_scope ? json{{"keys", json(*p.key_scope)}} : json(nullptr)}};
    };
    if (seg.size() == 2) {
      if (method != "GET") return MethodNotAllowed();
      COFFRE_HTTP_ASSIGN_OR_RETURN(auto all, access_.ListPrincipals());
      json value = json::array();
      for (const auto& p : all) value.push_back(view(p));
      return Ok(json{{"value", value}, {"nextLink", nullptr}});
    }
    const std::string& name = seg[2];
    if (method == "GET") {
      Result<Principal> p = access_.GetPrincipal(name);
      if (!p.has_value() && p.error().code() == StatusCode::kNotFound) {
        return RestApi::Error(404, "PrincipalNotFound", p.error().message());
      }
      COFFRE_HTTP_ASSIGN_OR_RETURN(Principal found, std::move(p));
      return Ok(view(found));
    }
    if (method == "DELETE") {
      if (name == caller_.name) {
        return RestApi::Error(400, "BadParameter", "A principal cannot delete itself.");
      }
      COFFRE_HTTP_RETURN_IF_ERROR(access_.DeletePrincipal(name));
      HttpResponse r;
      r.status = 204;
      return r;
    }
    if (method != "PUT") return MethodNotAllowed();
    COFFRE_HTTP_ASSIGN_OR_RETURN(json body, ParseBody(request_, true));
    COFFRE_HTTP_ASSIGN_OR_RETURN(auto perms, Field<json>(body, "permissions"));
    std::set<std::string> set;
    if (perms) {
      COFFRE_HTTP_ASSIGN_OR_RETURN(auto keys, Field<std::vector<std::string>>(*perms, "keys"));
      for (const auto& p : keys.value_or(std::vector<std::string>{})) {
        COFFRE_HTTP_ASSIGN_OR_RETURN(std::string canonical, CanonicalPermission(p));
        set.insert(canonical);
      }
    }
    // "scope": {"keys": [names]} limits the grant to those keys; absent or null: every key.
    COFFRE_HTTP_ASSIGN_OR_RETURN(auto scope_body, Field<json>(body, "scope"));
    std::optional<std::set<std::string>> scope;
    if (scope_body) {
      COFFRE_HTTP_ASSIGN_OR_RETURN(auto keys, Field<std::vector<std::string>>(*scope_body, "keys"));
      if (!keys) {
        return RestApi::Error(400, "BadParameter", "scope.keys must list the key names.");
      }
      if (keys->size() > kMaxScopeKeys) {
        return RestApi::Error(400, "BadParameter", "scope.keys names too many keys.");
      }
      scope.emplace(keys->begin(), keys->end());
    }
    COFFRE_HTTP_ASSIGN_OR_RETURN(auto admin, Field<bool>(body, "admin"));
    COFFRE_HTTP_ASSIGN_OR_RETURN(auto ttl, Field<int64_t>(body, "token_ttl_seconds"));
    if (ttl && (*ttl < 1 || *ttl > int64_t{10} * 365 * 86400)) {
      return RestApi::Error(400, "BadParameter", "token_ttl_seconds must be 1 to 10 years.");
    }
    bool rotate = query_.count("rotateToken") && query_.at("rotateToken") == "true";
    COFFRE_HTTP_ASSIGN_OR_RETURN(PrincipalUpdate u,
                    access_.SetPrincipal(name, std::move(set), admin, rotate, ttl, std::move(scope)));
    json out = view(u.principal);
    if (u.token) out["token"] = *u.token;
    return Ok(out);
  }

  HttpResponse RotationPolicyRoute(const std::string& name, const std::string& method) {
    std::string id = Kid(name) + "/rotationpolicy";
    if (method == "GET") {
      if (auto d = Deny("getrotationpolicy")) return *d;
      COFFRE_HTTP_ASSIGN_OR_RETURN(auto policy, vault_.GetRotationPolicy(name));
      return Ok(RotationPolicyToWire(policy, id));
    }
    if (method != "PUT") return MethodNotAllowed();
    if (auto d = Deny("setrotationpolicy")) return *d;
    COFFRE_HTTP_RETURN_IF_ERROR(vault_.GetRotationPolicy(name).status());  // 404 before 400
    COFFRE_HTTP_ASSIGN_OR_RETURN(json body, ParseBody(request_, true));
    COFFRE_HTTP_ASSIGN_OR_RETURN(auto update, ParseRotationPolicyUpdate(body));
    COFFRE_HTTP_ASSIGN_OR_RETURN(auto policy, vault_.SetRotationPolicy(name, std::move(update)));
    return Ok(RotationPolicyToWire(policy, id));
  }

  // The test clock (--test-clock only): GET reads it, POST {"advance_seconds":N} moves it on.
  HttpResponse TestClock(VaultClock& clock, const std::string& method) {
    if (!caller_.admin) {
      return RestApi::Error(403, "Forbidden", "Only the vault owner moves the test clock.",
                            "AccessDenied");
    }
    if (method == "POST") {
      COFFRE_HTTP_ASSIGN_OR_RETURN(json body, ParseBody(request_, true));
      COFFRE_HTTP_ASSIGN_OR_RETURN(auto seconds, Field<int64_t>(body, "advance_seconds"));
      if (!seconds) {
        return RestApi::Error(400, "BadParameter", "The field 'advance_seconds' is required.");
      }
      COFFRE_HTTP_RETURN_IF_ERROR(clock.Advance(*seconds));
    } else if (method != "GET") {
      return MethodNotAllowed();
    }
    return Ok(json{{"now", clock.Now()}, {"offset_seconds", clock.offset()}});
  }

  static HttpResponse MethodNotAllowed() {
    return RestApi::Error(405, "MethodNotAllowed", "The method is not allowed on this path.");
  }

  KeyVault& vault_;
  AccessControl& access_;
  const RestApiOptions& options_;
  const KeyBackup* backup_;
  const Principal& caller_;
  const std::string& api_version_;
  const std::map<std::string, std::string>& query_;
  const HttpRequest& request_;
};

}  // namespace

HttpResponse RestApi::Route(Call& call) {
  Handler h(vault_, access_, options_, backup_, call.caller, call.api_version, call.query,
            call.request);
  const auto& seg = call.segments;
  const std::string& method = call.request.method;
  size_t n = seg.size();

  if (seg[0] == "coffre" && n >= 2 && n <= 3 && seg[1] == "principals") {
    return h.Principals(seg, method);
  }
  if (seg[0] == "coffre" && n == 2 && seg[1] == "clock" && options_.test_clock != nullptr) {
    return h.TestClock(*options_.test_clock, method);
  }
  if (seg[0] == "coffre" && n >= 2 && seg[1] == "audit") {
    return HandleAuditRoute(audit_, call.caller, method, seg, call.query);
  }
  if (seg[0] == "coffre" && n == 2 && seg[1] == "seal-status") {
    if (method != "GET") return Handler::MethodNotAllowed();
    if (!call.caller.admin) {
      return Error(403, "Forbidden", "Only the vault owner reads the seal status.", "AccessDenied");
    }
    return Ok(options_.seal_status);
  }
  if (seg[0] == "coffre" && n >= 2 && n <= 3 && seg[1] == "eventsubscriptions" &&
      options_.event_subscriptions != nullptr) {
    return HandleEventSubscriptions(*options_.event_subscriptions, call.request, seg, call.caller);
  }
  if (seg[0] == "keys") {
    if (n == 1) {
      if (method != "GET") return Handler::MethodNotAllowed();
      if (auto d = h.OutOfScope()) return *d;
      if (auto d = h.Deny("list")) return *d;
      COFFRE_HTTP_ASSIGN_OR_RETURN(auto keys, vault_.ListLatest());
      std::sort(keys.begin(), keys.end(), [](auto& a, auto& b) { return a.name < b.name; });
      std::vector<json> items;
      std::vector<std::string> sort_keys;
      for (const auto& k : keys) {
        items.push_back(h.Item(k, false));
        sort_keys.push_back(k.name);
      }
      return h.Page("/keys", std::move(items), sort_keys);
    }
    if (n == 2 && seg[1] == "restore" && method == "POST") {
      if (auto d = h.OutOfScope()) return *d;
      return h.Restore();
    }
    const std::string& name = seg[1];
    if (!KeyVault::ValidName(name)) {
      return Error(400, "BadParameter",
                   "The key name '" + name + "' is invalid: use 1-127 of 0-9 a-z A-Z -.");
    }
    if (auto d = h.OutOfScope(name)) return *d;
    if (n == 2 || (n == 3 && seg[2].empty() && method != "POST")) {
      if (method == "GET") {
        if (auto d = h.Deny("get")) return *d;
        COFFRE_HTTP_ASSIGN_OR_RETURN(KeyVersion v, vault_.Get(name, ""));
        return Ok(h.Bundle(v));
      }
      if (method == "PATCH") return h.Update(name, "");
      if (n == 2 && method == "PUT") return h.Import(name);
      if (n == 2 && method == "DELETE") {
        if (auto d = h.Deny("delete")) return *d;
        COFFRE_HTTP_ASSIGN_OR_RETURN(DeletedKey del, vault_.Delete(name));
        return Ok(h.Deleted(del, h.Bundle(del.latest)));
      }
      return Handler::MethodNotAllowed();
    }
    const std::string& third = seg[2];
    if (n == 3) {
      if (method == "POST" && third == "create") return h.Create(name);
      if (method == "POST" && third == "rotate") {
        if (auto d = h.Deny("rotate")) return *d;
        COFFRE_HTTP_ASSIGN_OR_RETURN(KeyVersion v, vault_.Rotate(name));
        return Ok(h.Bundle(v));
      }
      if (method == "POST" && third == "backup") return h.Backup(name);
      if (third == "rotationpolicy") return h.RotationPolicyRoute(name, method);
      if (method == "GET" && third == "versions") {
        if (auto d = h.Deny("list")) return *d;
        COFFRE_HTTP_ASSIGN_OR_RETURN(auto versions, vault_.ListVersions(name));
        std::vector<json> items;
        std::vector<std::string> sort_keys;
        for (size_t i = 0; i < versions.size(); ++i) {
          items.push_back(h.Item(versions[i], true));
          char index[24];
          std::snprintf(index, sizeof index, "%020zu", i);
          sort_keys.push_back(index);
        }
        return h.Page("/keys/" + name + "/versions", std::move(items), sort_keys);
      }
      if (method == "POST") return h.Operate(name, "", third);  // .NET: /keys/{n}/wrapKey
      if (method == "GET") {
        if (auto d = h.Deny("get")) return *d;
        COFFRE_HTTP_ASSIGN_OR_RETURN(KeyVersion v, vault_.Get(name, third));
        return Ok(h.Bundle(v));
      }
      if (method == "PATCH") return h.Update(name, third);
      return Handler::MethodNotAllowed();
    }
    if (n == 4 && method == "POST") return h.Operate(name, third, seg[3]);
    return Error(404, "NotFound", "Unknown path.");
  }
  if (seg[0] == "deletedkeys") {
    if (n == 1) {
      if (method != "GET") return Handler::MethodNotAllowed();
      if (auto d = h.OutOfScope()) return *d;
      if (auto d = h.Deny("list")) return *d;
      COFFRE_HTTP_ASSIGN_OR_RETURN(auto deleted, vault_.ListDeleted());
      std::sort(deleted.begin(), deleted.end(),
                [](auto& a, auto& b) { return a.latest.name < b.latest.name; });
      std::vector<json> items;
      std::vector<std::string> sort_keys;
      for (const auto& d : deleted) {
        items.push_back(h.Deleted(d, h.Item(d.latest, false)));
        sort_keys.push_back(d.latest.name);
      }
      return h.Page("/deletedkeys", std::move(items), sort_keys);
    }
    const std::string& name = seg[1];
    if (auto d = h.OutOfScope(name)) return *d;
    if (n == 2 && method == "GET") {
      if (auto d = h.Deny("get")) return *d;
      COFFRE_HTTP_ASSIGN_OR_RETURN(DeletedKey del, vault_.GetDeleted(name));
      return Ok(h.Deleted(del, h.Bundle(del.latest)));
    }
    if (n == 2 && method == "DELETE") {
      if (auto d = h.Deny("purge")) return *d;
      COFFRE_HTTP_RETURN_IF_ERROR(vault_.Purge(name));
      HttpResponse r;
      r.status = 204;
      return r;
    }
    if (n == 3 && seg[2] == "recover" && method == "POST") {
      if (auto d = h.Deny("recover")) return *d;
      COFFRE_HTTP_ASSIGN_OR_RETURN(KeyVersion v, vault_.Recover(name));
      return Ok(h.Bundle(v));
    }
    return Handler::MethodNotAllowed();
  }
  return Error(404, "NotFound", "Unknown path.");
}

}  // namespace coffre::vault
