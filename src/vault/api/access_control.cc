#include "vault/api/access_control.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <strings.h>

#include <chrono>

#include "common/encoding.h"
#include "crypto/random.h"
#include "vault/keys/key_vault.h"

namespace coffre::vault {
namespace {

using nlohmann::json;

std::string TokenHash(std::string_view token) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
  return HexEncode(ByteSpan(reinterpret_cast<const std::byte*>(digest), sizeof digest));
}

Result<std::string> NewToken() {
  Bytes raw(32);
  COFFRE_RETURN_IF_ERROR(crypto::RandomBytes(raw));
  return "cvt1." + Base64UrlEncode(raw);
}

bool ValidPrincipalName(const std::string& name) {
  if (name.empty() || name.size() > 127) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

Principal FromJson(const std::string& name, const json& j) {
  Principal p;
  p.name = name;
  if (!j.is_object()) return p;  // no permission at all
  p.admin = j.contains("admin") && j["admin"].is_boolean() && j["admin"].get<bool>();
  if (j.contains("permissions") && j["permissions"].is_array()) {
    for (const auto& perm : j["permissions"]) {
      if (perm.is_string()) p.permissions.insert(perm.get<std::string>());
    }
  }
  if (j.contains("keys") && !j["keys"].is_null()) {
    p.key_scope.emplace();  // a malformed scope is an empty one: nothing, rather than all
    if (j["keys"].is_array()) {
      for (const auto& key : j["keys"]) {
        if (key.is_string()) p.key_scope->insert(key.get<std::string>());
      }
    }
  }
  return p;
}

std::string Text(const json& j, const char* field) {
  auto it = j.find(field);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

bool Principal::InScope(std::string_view key) const {
  return !key_scope.has_value() || key_scope->count(LowerKeyName(key)) > 0;
}

const std::vector<std::string>& AllKeyPermissions() {
  static const std::vector<std::string> kAll = {
      "get",     "list",    "update",  "create",  "import",  "delete",
      "recover", "backup",  "restore", "decrypt", "encrypt", "unwrapKey",
      "wrapKey", "verify",  "sign",    "purge",   "release", "rotate",
      "getrotationpolicy", "setrotationpolicy"};
  return kAll;
}

Result<std::string> CanonicalPermission(std::string_view name) {
  for (const std::string& p : AllKeyPermissions()) {
    if (p.size() == name.size() && ::strncasecmp(p.data(), name.data(), p.size()) == 0) return p;
  }
  return InvalidArgument("unknown key permission '" + std::string(name) + "'");
}

Result<Principal> AccessControl::Authenticate(std::string_view token) {
  if (token.empty() || token.size() > 512) return Unauthenticated("invalid token");
  std::string hash = TokenHash(token);
  Result<json> index = store_.GetJson("token/" + hash);
  if (!index.has_value()) {
    if (index.error().code() == StatusCode::kNotFound) return Unauthenticated("invalid token");
    return index.error();
  }
  std::string name = Text(*index, "principal");
  Result<json> record = store_.GetJson("principal/" + name);
  if (!record.has_value()) {
    if (record.error().code() == StatusCode::kNotFound) return Unauthenticated("invalid token");
    return record.error();
  }
  std::string stored = Text(*record, "token_sha256");
  // The index already matched; this constant-time check also ties the token to the record.
  if (stored.size() != hash.size() || CRYPTO_memcmp(stored.data(), hash.data(), hash.size()) != 0) {
    return Unauthenticated("invalid token");
  }
  auto expires = record->find("token_expires");
  if (expires != record->end() &&
      (!expires->is_number_integer() || clock_.NowSeconds() >= expires->get<int64_t>())) {
    return Unauthenticated("The bearer token has expired.");
  }
  return FromJson(name, *record);
}

Result<PrincipalUpdate> AccessControl::SetPrincipal(const std::string& name,
                                                    std::set<std::string> permissions,
                                                    std::optional<bool> admin, bool rotate_token,
                                                    std::optional<int64_t> token_ttl_seconds,
                                                    std::optional<std::set<std::string>> key_scope) {
  if (!ValidPrincipalName(name)) {
    return InvalidArgument("principal names are 1-127 of a-z A-Z 0-9 - _ .");
  }
  std::optional<std::set<std::string>> scope;
  if (key_scope) {
    scope.emplace();
    for (const std::string& key : *key_scope) {
      if (!KeyVault::ValidName(key)) {
        return InvalidArgument("the key scope names '" + key.substr(0, 128) +
                               "', not a key name (1-127 of 0-9 a-z A-Z -)");
      }
      scope->insert(LowerKeyName(key));
    }
  }
  std::lock_guard<std::mutex> guard(mu_);
  std::string key = "principal/" + name;
  Result<json> existing = store_.GetJson(key);
  if (!existing.has_value() && existing.error().code() != StatusCode::kNotFound) {
    return existing.error();
  }
  PrincipalUpdate out;
  std::vector<SealedStore::Change> changes;
  json record = existing.has_value() ? *existing : json::object();
  if (!existing.has_value() || rotate_token) {
    COFFRE_ASSIGN_OR_RETURN(std::string token, NewToken());
    std::string hash = TokenHash(token);
    if (existing.has_value()) {
      changes.push_back({"token/" + Text(record, "token_sha256"), {}, {}, true});
    }
    record["token_sha256"] = hash;
    if (token_ttl_seconds) {
      record["token_expires"] = clock_.NowSeconds() + *token_ttl_seconds;
    } else {
      record.erase("token_expires");
    }
    changes.push_back({"token/" + hash, json{{"principal", name}}, {}, false});
    out.token = std::move(token);
  }
  Principal before = FromJson(name, record);
  record["permissions"] = json(permissions);
  record["admin"] = admin.value_or(before.admin);
  if (scope) {
    record["keys"] = json(*scope);
  } else {
    record.erase("keys");
  }
  changes.insert(changes.begin(), {key, record, {}, false});
  COFFRE_RETURN_IF_ERROR(store_.Apply(changes));
  out.principal = FromJson(name, record);
  if (!existing.has_value() || before.permissions != out.principal.permissions ||
      before.admin != out.principal.admin || before.key_scope != out.principal.key_scope) {
    PublishPolicyChanged();
  }
  return out;
}

Result<Principal> AccessControl::GetPrincipal(const std::string& name) {
  Result<json> record = store_.GetJson("principal/" + name);
  if (!record.has_value()) {
    if (record.error().code() == StatusCode::kNotFound) {
      return NotFound("principal '" + name + "' does not exist");
    }
    return record.error();
  }
  return FromJson(name, *record);
}

Result<std::vector<Principal>> AccessControl::ListPrincipals() {
  std::vector<Principal> out;
  COFFRE_RETURN_IF_ERROR(store_.ScanJson("principal/", [&](const std::string& key, const json& j) {
    out.push_back(FromJson(key.substr(10), j));
    return true;
  }));
  return out;
}

Status AccessControl::DeletePrincipal(const std::string& name) {
  std::lock_guard<std::mutex> guard(mu_);
  std::string key = "principal/" + name;
  Result<json> record = store_.GetJson(key);
  if (!record.has_value()) {
    if (record.error().code() == StatusCode::kNotFound) {
      return NotFound("principal '" + name + "' does not exist");
    }
    return record.error();
  }
  COFFRE_RETURN_IF_ERROR(store_.Apply(
      {{key, {}, {}, true}, {"token/" + Text(*record, "token_sha256"), {}, {}, true}}));
  PublishPolicyChanged();
  return Status::Ok();
}

// Called with mu_ held, after the change is durable.
void AccessControl::PublishPolicyChanged() {
  if (events_ == nullptr) return;
  KeyEvent event;
  event.type = std::string(event_type::kVaultAccessPolicyChanged);
  event.time = clock_.NowSeconds();
  events_->Publish(event);
}

}  // namespace coffre::vault
