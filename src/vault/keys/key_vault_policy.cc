// KeyVault's rotation-policy records (declared in key_vault.h): the policy and the scheduler's
// "published" marks live in the key's record ("key/<name>"), beside its versions list.
#include <mutex>

#include "vault/keys/key_vault.h"

namespace coffre::vault {
namespace {

using nlohmann::json;

constexpr const char* kPolicyField = "rotationPolicy";
constexpr const char* kPublishedField = "published";

Result<RotationPolicy> PolicyOf(const json& record) {
  if (!record.contains(kPolicyField)) return RotationPolicy::Default();
  return RotationPolicyFromRecord(record[kPolicyField]);
}

}  // namespace

Result<RotationPolicy> KeyVault::GetRotationPolicy(const std::string& name) {
  std::shared_lock lock(mu_);
  COFFRE_ASSIGN_OR_RETURN(std::string id, IdOf(name));
  COFFRE_ASSIGN_OR_RETURN(json record, KeyRecord(id));
  return PolicyOf(record);
}

Result<RotationPolicy> KeyVault::SetRotationPolicy(const std::string& name, RotationPolicy policy) {
  std::unique_lock lock(mu_);
  COFFRE_ASSIGN_OR_RETURN(std::string id, IdOf(name));
  COFFRE_ASSIGN_OR_RETURN(json record, KeyRecord(id));
  COFFRE_ASSIGN_OR_RETURN(RotationPolicy current, PolicyOf(record));
  int64_t now = clock_.NowSeconds();
  policy.created = current.created.value_or(now);
  policy.updated = now;
  record[kPolicyField] = RotationPolicyToRecord(policy);
  COFFRE_RETURN_IF_ERROR(store_.PutJson(KeyKey(id), record));
  return policy;
}

Result<std::vector<KeyPolicyState>> KeyVault::ListPolicyStates() {
  std::shared_lock lock(mu_);
  std::vector<std::pair<std::string, json>> live;
  COFFRE_RETURN_IF_ERROR(store_.ScanJson("key/", [&](const std::string& key, const json& j) {
    auto deleted = j.is_object() ? j.find("deleted") : j.end();
    if (j.is_object() && (deleted == j.end() || deleted->is_null())) {
      live.emplace_back(key.substr(4), j);
    }
    return true;
  }));
  std::vector<KeyPolicyState> out;
  for (auto& [name, record] : live) {
    KeyPolicyState state;
    COFFRE_ASSIGN_OR_RETURN(state.latest, LoadVersion(name, ""));
    COFFRE_ASSIGN_OR_RETURN(state.policy, PolicyOf(record));
    const json published = record.value(kPublishedField, json::object());
    for (const auto& [type, version] : published.items()) {
      if (version.is_string()) state.published[type] = version.get<std::string>();
    }
    out.push_back(std::move(state));
  }
  return out;
}

Result<bool> KeyVault::MarkPublished(const std::string& name, std::string_view event_type,
                                     const std::string& version) {
  std::unique_lock lock(mu_);
  COFFRE_ASSIGN_OR_RETURN(std::string id, IdOf(name));
  COFFRE_ASSIGN_OR_RETURN(json record, KeyRecord(id));
  json& published = record[kPublishedField];
  if (!published.is_object()) published = json::object();
  std::string type(event_type);
  if (published[type].is_string() && published[type].get<std::string>() == version) return false;
  published[type] = version;
  COFFRE_RETURN_IF_ERROR(store_.PutJson(KeyKey(id), record));
  return true;
}

}  // namespace coffre::vault
