#include "vault/keys/key_records.h"

#include <algorithm>

#include "common/encoding.h"
#include "crypto/random.h"

namespace coffre::vault::key_records {
namespace {

const std::vector<std::string> kKnownOps = {"encrypt", "decrypt", "sign", "verify",
                                            "wrapKey", "unwrapKey", "import", "export"};

}  // namespace

using nlohmann::json;

const std::vector<std::string> kRsaOps = {"encrypt", "decrypt", "sign", "verify", "wrapKey",
                                          "unwrapKey"};
const std::vector<std::string> kOctOps = {"encrypt", "decrypt", "wrapKey", "unwrapKey"};

// Records are stored under a key's id (IdOf): the name in lower case, or the exact name of a
// key from before names were case-insensitive that clashes with another (MigrateKeyNames).
std::string VersionKey(const std::string& id, const std::string& v) {
  return "ver/" + id + "/" + v;
}
std::string MaterialKey(const std::string& id, const std::string& v) {
  return "mat/" + id + "/" + v;
}

// The key's name as it was created (what kids show); records written before names were
// case-insensitive have no "name" and are stored under it.
std::string DisplayName(const json& record, const std::string& id) {
  auto it = record.find("name");
  return it != record.end() && it->is_string() ? it->get<std::string>() : id;
}

// The "deleted" member of a key record, or null (read without operator[], which a const
// json must not be given a missing name).
const json& DeletedMember(const json& record) {
  static const json kNull;
  if (!record.is_object()) return kNull;
  auto it = record.find("deleted");
  return it == record.end() ? kNull : *it;
}

Status NameConflict(const std::string& asked, const std::string& existing) {
  return AlreadyExists("Key names are case-insensitive: '" + asked +
                       "' names the existing key '" + existing + "'. Use its name as created.").WithDetail("KeyNameConflict");
}

Status KeyNotFound(const std::string& name, const std::string& version) {
  std::string id = version.empty() ? name : name + "/" + version;
  return NotFound("A key with (name/id) " + id +
                  " was not found in this key vault. If you recently deleted this key you may be "
                  "able to recover it using the correct recovery command.");
}

Status DeletedKeyNotFound(const std::string& name) {
  return NotFound("Deleted Key not found: " + name);
}

Status DeletedButRecoverable(const std::string& name) {
  return AlreadyExists("Key " + name +
                       " is currently in a deleted but recoverable state, and its name cannot "
                       "be reused; in this state, the key can only be recovered or purged.").WithDetail("ObjectIsDeletedButRecoverable");
}

Result<std::string> NewVersionId() {
  Bytes raw(16);
  COFFRE_RETURN_IF_ERROR(crypto::RandomBytes(raw));
  return HexEncode(raw);
}

bool IsRsaKty(const std::string& kty) { return kty == "RSA" || kty == "RSA-HSM"; }
bool IsOctKty(const std::string& kty) { return kty == "oct" || kty == "oct-HSM"; }

json ToJson(const KeyVersion& v) {
  json j = {{"kty", v.kty},         {"key_size", v.key_size}, {"key_ops", v.key_ops},
            {"enabled", v.enabled}, {"created", v.created},   {"updated", v.updated},
            {"tags", v.tags},       {"n", Base64UrlEncode(v.n)}, {"e", Base64UrlEncode(v.e)}};
  if (v.nbf) j["nbf"] = *v.nbf;
  if (v.exp) j["exp"] = *v.exp;
  return j;
}

Result<KeyVersion> FromJson(const std::string& name, const std::string& version, const json& j) {
  KeyVersion v;
  v.name = name;
  v.version = version;
  v.kty = j.value("kty", "");
  v.key_size = j.value("key_size", 0);
  v.key_ops = j.value("key_ops", std::vector<std::string>{});
  v.enabled = j.value("enabled", false);
  v.created = j.value("created", int64_t{0});
  v.updated = j.value("updated", int64_t{0});
  v.tags = j.value("tags", json::object());
  if (j.contains("nbf")) v.nbf = j["nbf"].get<int64_t>();
  if (j.contains("exp")) v.exp = j["exp"].get<int64_t>();
  COFFRE_ASSIGN_OR_RETURN(v.n, Base64UrlDecode(j.value("n", "")));
  COFFRE_ASSIGN_OR_RETURN(v.e, Base64UrlDecode(j.value("e", "")));
  return v;
}

Status ValidateOps(const std::vector<std::string>& ops) {
  for (const auto& op : ops) {
    if (std::find(kKnownOps.begin(), kKnownOps.end(), op) == kKnownOps.end()) {
      return InvalidArgument("key_ops: unknown operation '" + op + "'");
    }
  }
  return Status::Ok();
}

Status ValidateAttributes(const KeyAttributesPatch& a) {
  for (const auto* field : {&a.nbf, &a.exp}) {
    if (field->has_value() && field->value().has_value() && *field->value() < 0) {
      return InvalidArgument("nbf and exp must be non-negative IntDates (seconds since 1970)");
    }
  }
  return Status::Ok();
}

void ApplyAttributes(KeyVersion& v, const KeyAttributesPatch& a) {
  if (a.enabled) v.enabled = *a.enabled;
  if (a.nbf) v.nbf = *a.nbf;
  if (a.exp) v.exp = *a.exp;
}

}  // namespace coffre::vault::key_records
