// The handlers of the Azure Key Vault keys routes (routes.h): keys, versions, crypto
// operations, backup and restore, rotation policies, deleted keys. The route table has checked
// the key's name, the caller's scope and permission before any of them runs.
#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "vault/api/http_reply.h"
#include "vault/api/route_context.h"

namespace coffre::vault::route_handlers {
namespace {

using nlohmann::json;
using net::HttpResponse;

constexpr size_t kMaxPageSize = 25;

std::string Kid(const RouteContext& c, const std::string& name, const std::string& version = "") {
  std::string kid = c.options.public_origin + "/keys/" + name;
  if (!version.empty()) kid += "/" + version;
  return kid;
}

json Attributes(const RouteContext& c, const KeyVersion& v) {
  json a = {{"enabled", v.enabled},
            {"created", v.created},
            {"updated", v.updated},
            {"recoveryLevel", c.vault.settings().RecoveryLevel()},
            {"recoverableDays", c.vault.settings().retention_days}};
  if (v.nbf) a["nbf"] = *v.nbf;
  if (v.exp) a["exp"] = *v.exp;
  return a;
}

json Bundle(const RouteContext& c, const KeyVersion& v) {
  json key = {{"kid", Kid(c, v.name, v.version)}, {"kty", v.kty}, {"key_ops", v.key_ops}};
  if (!v.n.empty()) {
    key["n"] = Base64UrlEncode(v.n);
    key["e"] = Base64UrlEncode(v.e);
  }
  json b = {{"key", key}, {"attributes", Attributes(c, v)}};
  if (!v.tags.empty()) b["tags"] = v.tags;
  return b;
}

json Item(const RouteContext& c, const KeyVersion& v, bool versioned) {
  json item = {{"kid", Kid(c, v.name, versioned ? v.version : "")},
               {"attributes", Attributes(c, v)}};
  if (!v.tags.empty()) item["tags"] = v.tags;
  return item;
}

json Deleted(const RouteContext& c, const DeletedKey& d, json base) {
  base["recoveryId"] = c.options.public_origin + "/deletedkeys/" + d.latest.name;
  base["deletedDate"] = d.deleted_date;
  base["scheduledPurgeDate"] = d.scheduled_purge_date;
  return base;
}

// One page of `items` (already in order), continuing after $skiptoken.
HttpResponse Page(const RouteContext& c, const std::string& path, std::vector<json> items,
                  const std::vector<std::string>& sort_keys) {
  size_t page = kMaxPageSize;
  if (auto it = c.query.find("maxresults"); it != c.query.end()) {
    int n = std::atoi(it->second.c_str());
    if (n < 1 || n > int(kMaxPageSize)) {
      return ErrorReply(400, "BadParameter", "maxresults must be between 1 and 25.");
    }
    page = static_cast<size_t>(n);
  }
  size_t start = 0;
  if (auto it = c.query.find("$skiptoken"); it != c.query.end()) {
    start = std::upper_bound(sort_keys.begin(), sort_keys.end(), it->second) - sort_keys.begin();
  }
  json value = json::array();
  for (size_t i = start; i < items.size() && i < start + page; ++i) value.push_back(items[i]);
  json body = {{"value", value}, {"nextLink", nullptr}};
  if (start + page < items.size()) {
    body["nextLink"] = c.options.public_origin + path + "?api-version=" + c.api_version +
                       "&maxresults=" + std::to_string(page) +
                       "&$skiptoken=" + sort_keys[start + page - 1];
  }
  return JsonReply(body);
}

Result<KeyAttributesPatch> ParseAttributes(const json& body) {
  KeyAttributesPatch patch;
  COFFRE_ASSIGN_OR_RETURN(auto attrs, BodyField<json>(body, "attributes"));
  if (!attrs) return patch;
  COFFRE_ASSIGN_OR_RETURN(patch.enabled, BodyField<bool>(*attrs, "enabled"));
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
  return BodyField<std::vector<std::string>>(body, "key_ops");
}

Result<json> ParseTags(const json& body) {
  COFFRE_ASSIGN_OR_RETURN(auto tags, BodyField<json>(body, "tags"));
  if (!tags) return json::object();
  for (auto& [k, v] : tags->items()) {
    if (!v.is_string()) return InvalidArgument("tags values must be strings");
  }
  return *tags;
}

HttpResponse BackupUnavailable() {
  return ErrorReply(501, "NotImplemented", "Key backup and restore are not configured.");
}

std::string KeyName(const RouteContext& c) { return std::string(c.params.key); }
std::string Version(const RouteContext& c) { return std::string(c.params.version); }

}  // namespace

HttpResponse ListKeys(RouteContext& c) {
  COFFRE_HTTP_ASSIGN_OR_RETURN(auto keys, c.vault.ListLatest());
  std::sort(keys.begin(), keys.end(), [](auto& a, auto& b) { return a.name < b.name; });
  std::vector<json> items;
  std::vector<std::string> sort_keys;
  for (const auto& k : keys) {
    items.push_back(Item(c, k, false));
    sort_keys.push_back(k.name);
  }
  return Page(c, "/keys", std::move(items), sort_keys);
}

HttpResponse GetKey(RouteContext& c) {
  COFFRE_HTTP_ASSIGN_OR_RETURN(KeyVersion v, c.vault.Get(KeyName(c), Version(c)));
  return JsonReply(Bundle(c, v));
}

HttpResponse DeleteKey(RouteContext& c) {
  COFFRE_HTTP_ASSIGN_OR_RETURN(DeletedKey del, c.vault.Delete(KeyName(c)));
  return JsonReply(Deleted(c, del, Bundle(c, del.latest)));
}

HttpResponse RotateKey(RouteContext& c) {
  COFFRE_HTTP_ASSIGN_OR_RETURN(KeyVersion v, c.vault.Rotate(KeyName(c)));
  return JsonReply(Bundle(c, v));
}

HttpResponse ListKeyVersions(RouteContext& c) {
  std::string name = KeyName(c);
  COFFRE_HTTP_ASSIGN_OR_RETURN(auto versions, c.vault.ListVersions(name));
  std::vector<json> items;
  std::vector<std::string> sort_keys;
  for (size_t i = 0; i < versions.size(); ++i) {
    items.push_back(Item(c, versions[i], true));
    char index[24];
    std::snprintf(index, sizeof index, "%020zu", i);
    sort_keys.push_back(index);
  }
  return Page(c, "/keys/" + name + "/versions", std::move(items), sort_keys);
}

HttpResponse CreateKey(RouteContext& c) {
  COFFRE_HTTP_ASSIGN_OR_RETURN(json body, ParseJsonBody(c.request, true));
  CreateKeyRequest req;
  COFFRE_HTTP_ASSIGN_OR_RETURN(auto kty, BodyField<std::string>(body, "kty"));
  if (!kty) return ErrorReply(400, "BadParameter", "The field 'kty' is required.");
  req.kty = *kty;
  COFFRE_HTTP_ASSIGN_OR_RETURN(auto size, BodyField<int>(body, "key_size"));
  req.key_size = size;
  COFFRE_HTTP_ASSIGN_OR_RETURN(auto exponent, BodyField<int64_t>(body, "public_exponent"));
  if (exponent) {
    if (*exponent <= 0 || *exponent > 0xFFFFFFFFll) {
      return ErrorReply(400, "BadParameter", "public_exponent is out of range.");
    }
    req.public_exponent = static_cast<uint32_t>(*exponent);
  }
  COFFRE_HTTP_ASSIGN_OR_RETURN(req.key_ops, ParseKeyOps(body));
  COFFRE_HTTP_ASSIGN_OR_RETURN(req.attributes, ParseAttributes(body));
  COFFRE_HTTP_ASSIGN_OR_RETURN(req.tags, ParseTags(body));
  COFFRE_HTTP_ASSIGN_OR_RETURN(KeyVersion v, c.vault.Create(KeyName(c), req));
  return JsonReply(Bundle(c, v));
}

HttpResponse ImportKey(RouteContext& c) {
  std::string name = KeyName(c);
  COFFRE_HTTP_ASSIGN_OR_RETURN(json body, ParseJsonBody(c.request, true));
  COFFRE_HTTP_ASSIGN_OR_RETURN(auto jwk, BodyField<json>(body, "key"));
  if (!jwk) return ErrorReply(400, "BadParameter", "The field 'key' is required.");
  COFFRE_HTTP_ASSIGN_OR_RETURN(auto kty, BodyField<std::string>(*jwk, "kty"));
  COFFRE_HTTP_ASSIGN_OR_RETURN(auto hsm, BodyField<bool>(body, "Hsm"));
  ImportKeyRequest req;
  auto part = [&](const char* field) -> Result<Bytes> {
    COFFRE_ASSIGN_OR_RETURN(auto text, BodyField<std::string>(*jwk, field));
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
  COFFRE_HTTP_ASSIGN_OR_RETURN(req.key_ops, BodyField<std::vector<std::string>>(*jwk, "key_ops"));
  COFFRE_HTTP_ASSIGN_OR_RETURN(req.attributes, ParseAttributes(body));
  COFFRE_HTTP_ASSIGN_OR_RETURN(req.tags, ParseTags(body));
  COFFRE_HTTP_ASSIGN_OR_RETURN(KeyVersion v, c.vault.Import(name, std::move(req)));
  return JsonReply(Bundle(c, v));
}

HttpResponse UpdateKey(RouteContext& c) {
  COFFRE_HTTP_ASSIGN_OR_RETURN(json body, ParseJsonBody(c.request, true));
  UpdateKeyRequest req;
  COFFRE_HTTP_ASSIGN_OR_RETURN(req.key_ops, ParseKeyOps(body));
  COFFRE_HTTP_ASSIGN_OR_RETURN(req.attributes, ParseAttributes(body));
  if (body.contains("tags")) {
    COFFRE_HTTP_ASSIGN_OR_RETURN(json tags, ParseTags(body));
    req.tags = tags;
  }
  COFFRE_HTTP_ASSIGN_OR_RETURN(KeyVersion v, c.vault.Update(KeyName(c), Version(c), req));
  return JsonReply(Bundle(c, v));
}

// {op} is a supported operation (the table checked it and the caller's permission for it).
HttpResponse KeyOperation(RouteContext& c) {
  COFFRE_HTTP_ASSIGN_OR_RETURN(json body, ParseJsonBody(c.request, true));
  COFFRE_HTTP_ASSIGN_OR_RETURN(auto alg, BodyField<std::string>(body, "alg"));
  COFFRE_HTTP_ASSIGN_OR_RETURN(auto value, BodyField<std::string>(body, "value"));
  if (!alg || !value) {
    return ErrorReply(400, "BadParameter", "The fields 'alg' and 'value' are required.");
  }
  if (!IsRsaAlgorithm(*alg) && !IsKeyWrapAlgorithm(*alg)) {
    return ErrorReply(400, "BadParameter", "The algorithm '" + *alg + "' is not supported.");
  }
  Result<Bytes> input = DecodeLenient(*value);
  if (!input.has_value()) {
    return ErrorReply(400, "BadParameter", "The value is not valid base64url.");
  }
  COFFRE_HTTP_ASSIGN_OR_RETURN(
      OperationResult r, c.vault.Operate(KeyName(c), Version(c), c.operation, *alg, *input));
  HttpResponse response =
      JsonReply(json{{"kid", Kid(c, r.name, r.version)}, {"value", Base64UrlEncode(r.value)}});
  crypto::Cleanse(r.value);
  return response;
}

// All versions of the key, sealed for this vault's master key lineage (key_backup.h).
HttpResponse BackupKey(RouteContext& c) {
  if (c.backup == nullptr) return BackupUnavailable();
  COFFRE_HTTP_ASSIGN_OR_RETURN(KeySnapshot snapshot, c.vault.Snapshot(KeyName(c)));
  COFFRE_HTTP_ASSIGN_OR_RETURN(Bytes blob, c.backup->Seal(snapshot));
  return JsonReply(json{{"value", Base64UrlEncode(blob)}});
}

HttpResponse RestoreKey(RouteContext& c) {
  if (c.backup == nullptr) return BackupUnavailable();
  COFFRE_HTTP_ASSIGN_OR_RETURN(json body, ParseJsonBody(c.request, true));
  COFFRE_HTTP_ASSIGN_OR_RETURN(auto value, BodyField<std::string>(body, "value"));
  if (!value) return ErrorReply(400, "BadParameter", "The field 'value' is required.");
  Result<Bytes> blob = DecodeLenient(*value);
  if (!blob.has_value()) {
    return ErrorReply(400, "BadParameter", "The value is not valid base64url.");
  }
  COFFRE_HTTP_ASSIGN_OR_RETURN(KeySnapshot snapshot, c.backup->Open(*blob));
  COFFRE_HTTP_ASSIGN_OR_RETURN(KeyVersion v, c.vault.Restore(snapshot));
  return JsonReply(Bundle(c, v));
}

HttpResponse GetRotationPolicy(RouteContext& c) {
  COFFRE_HTTP_ASSIGN_OR_RETURN(auto policy, c.vault.GetRotationPolicy(KeyName(c)));
  return JsonReply(RotationPolicyToWire(policy, Kid(c, KeyName(c)) + "/rotationpolicy"));
}

HttpResponse SetRotationPolicy(RouteContext& c) {
  std::string name = KeyName(c);
  COFFRE_HTTP_RETURN_IF_ERROR(c.vault.GetRotationPolicy(name).status());  // 404 before 400
  COFFRE_HTTP_ASSIGN_OR_RETURN(json body, ParseJsonBody(c.request, true));
  COFFRE_HTTP_ASSIGN_OR_RETURN(auto update, ParseRotationPolicyUpdate(body));
  COFFRE_HTTP_ASSIGN_OR_RETURN(auto policy, c.vault.SetRotationPolicy(name, std::move(update)));
  return JsonReply(RotationPolicyToWire(policy, Kid(c, name) + "/rotationpolicy"));
}

HttpResponse ListDeletedKeys(RouteContext& c) {
  COFFRE_HTTP_ASSIGN_OR_RETURN(auto deleted, c.vault.ListDeleted());
  std::sort(deleted.begin(), deleted.end(),
            [](auto& a, auto& b) { return a.latest.name < b.latest.name; });
  std::vector<json> items;
  std::vector<std::string> sort_keys;
  for (const auto& d : deleted) {
    items.push_back(Deleted(c, d, Item(c, d.latest, false)));
    sort_keys.push_back(d.latest.name);
  }
  return Page(c, "/deletedkeys", std::move(items), sort_keys);
}

HttpResponse GetDeletedKey(RouteContext& c) {
  COFFRE_HTTP_ASSIGN_OR_RETURN(DeletedKey del, c.vault.GetDeleted(KeyName(c)));
  return JsonReply(Deleted(c, del, Bundle(c, del.latest)));
}

HttpResponse PurgeDeletedKey(RouteContext& c) {
  COFFRE_HTTP_RETURN_IF_ERROR(c.vault.Purge(KeyName(c)));
  return NoContent();
}

HttpResponse RecoverDeletedKey(RouteContext& c) {
  COFFRE_HTTP_ASSIGN_OR_RETURN(KeyVersion v, c.vault.Recover(KeyName(c)));
  return JsonReply(Bundle(c, v));
}

}  // namespace coffre::vault::route_handlers
