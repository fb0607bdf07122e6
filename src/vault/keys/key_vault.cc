#include "vault/keys/key_vault.h"

#include <algorithm>
#include <mutex>

#include "vault/keys/key_records.h"

namespace coffre::vault {

using nlohmann::json;
using namespace key_records;  // NOLINT: this folder's own storage helpers

std::string VaultSettings::RecoveryLevel() const {
  std::string level = retention_days == 90 ? "Recoverable" : "CustomizedRecoverable";
  return purge_protection ? level : level + "+Purgeable";
}

KeyVault::KeyVault(SealedStore& store, VaultSettings settings, const Clock& clock,
                   DestroyDeletedData destroy, KeyEventSink* events)
    : store_(store),
      settings_(settings),
      clock_(clock),
      destroy_(std::move(destroy)),
      events_(events) {}

// Called with mu_ held, after the change is durable: events leave in the order of the changes.
void KeyVault::Publish(std::string_view type, const KeyVersion& v) {
  if (events_ == nullptr) return;
  events_->Publish(
      KeyEvent{std::string(type), v.name, v.version, v.nbf, v.exp, clock_.NowSeconds()});
}

std::string LowerKeyName(std::string_view name) {
  std::string out(name);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool KeyVault::ValidName(std::string_view name) {
  if (name.empty() || name.size() > 127) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
  });
}

Result<std::string> KeyVault::IdOf(const std::string& name) {
  std::string lower = LowerKeyName(name);
  if (lower == name) return lower;
  // A key stored under this exact spelling predates case-insensitive names and clashed with
  // another when they were migrated: it keeps its exact name.
  Result<Bytes> exact = store_.Get(KeyKey(name));
  if (exact.has_value()) return name;
  if (exact.error().code() != StatusCode::kNotFound) return exact.error();
  return lower;
}

Result<json> KeyVault::KeyRecord(const std::string& id) {
  Result<json> record = store_.GetJson(KeyKey(id));
  if (!record.has_value()) {
    if (record.error().code() == StatusCode::kNotFound) return KeyNotFound(id, "");
    return record.error();
  }
  if (!record->is_object() || !(*record)["deleted"].is_null()) return KeyNotFound(id, "");
  return record;
}

Result<json> KeyVault::DeletedRecord(const std::string& id) {
  Result<json> record = store_.GetJson(KeyKey(id));
  if (!record.has_value()) {
    if (record.error().code() == StatusCode::kNotFound) return DeletedKeyNotFound(id);
    return record.error();
  }
  if (!record->is_object() || (*record)["deleted"].is_null()) return DeletedKeyNotFound(id);
  return record;
}

Result<KeyVersion> KeyVault::LoadVersion(const std::string& id, const std::string& version) {
  COFFRE_ASSIGN_OR_RETURN(json record, KeyRecord(id));
  std::string name = DisplayName(record, id);
  const json& versions = record["versions"];
  if (!versions.is_array() || versions.empty() || !versions.back().is_string()) {
    return KeyNotFound(name, version);
  }
  std::string v = version.empty() ? versions.back().get<std::string>() : version;
  if (std::find(versions.begin(), versions.end(), v) == versions.end()) {
    return KeyNotFound(name, version);
  }
  COFFRE_ASSIGN_OR_RETURN(json j, store_.GetJson(VersionKey(id, v)));
  return FromJson(name, v, j);
}

Result<KeyVersion> KeyVault::AddVersion(const std::string& name, const std::string& kty,
                                        KeyMaterial material,
                                        std::optional<std::vector<std::string>> ops,
                                        const KeyAttributesPatch& attributes, const json& tags) {
  // Caller holds mu_ exclusively.
  COFFRE_ASSIGN_OR_RETURN(std::string id, IdOf(name));
  Result<json> existing = store_.GetJson(KeyKey(id));
  json record = json{{"name", name}, {"versions", json::array()}, {"deleted", nullptr}};
  if (existing.has_value()) {
    if (!existing->is_object() || !(*existing)["versions"].is_array()) {
      return DataLoss("the record of key " + name + " is malformed");
    }
    std::string stored = DisplayName(*existing, id);
    if (!(*existing)["deleted"].is_null()) {
      return DeletedButRecoverable(stored);
    }
    // Create and import add a version to a key of the same name; another spelling of it
    // is refused rather than silently taken as the same key.
    if (stored != name) return NameConflict(name, stored);
    record = *existing;
  } else if (existing.error().code() != StatusCode::kNotFound) {
    return existing.error();
  }
  KeyVersion v;
  v.name = name;
  COFFRE_ASSIGN_OR_RETURN(v.version, NewVersionId());
  v.kty = kty;
  v.key_size = material.bits;
  v.key_ops = ops.value_or(material.kind == KeyKind::kRsa ? kRsaOps : kOctOps);
  v.created = v.updated = clock_.NowSeconds();
  v.tags = tags;
  v.n = material.n;
  v.e = material.e;
  ApplyAttributes(v, attributes);
  record["versions"].push_back(v.version);
  COFFRE_RETURN_IF_ERROR(store_.Apply({
      {KeyKey(id), record, {}, false},
      {VersionKey(id, v.version), ToJson(v), {}, false},
      {MaterialKey(id, v.version), {}, material.secret.Reveal(), false},
  }));
  Publish(event_type::kKeyNewVersionCreated, v);
  return v;
}

Result<KeyVersion> KeyVault::Create(const std::string& name, const CreateKeyRequest& request) {
  if (!ValidName(name)) {
    return InvalidArgument("The key name '" + name + "' is invalid: use 1-127 of 0-9 a-z A-Z -.");
  }
  if (request.key_ops) COFFRE_RETURN_IF_ERROR(ValidateOps(*request.key_ops));
  COFFRE_RETURN_IF_ERROR(ValidateAttributes(request.attributes));
  Result<KeyMaterial> material = InvalidArgument("");
  if (IsRsaKty(request.kty)) {
    material = GenerateRsa(request.key_size.value_or(2048), request.public_exponent.value_or(65537));
  } else if (IsOctKty(request.kty)) {
    material = GenerateOct(request.key_size.value_or(256));
  } else if (request.kty == "EC" || request.kty == "EC-HSM") {
    return InvalidArgument("EC keys are not supported by this vault (RSA and oct are)");
  } else {
    return InvalidArgument("The kty '" + request.kty + "' is not a valid key type");
  }
  if (!material.has_value()) return material.error();
  std::unique_lock lock(mu_);
  return AddVersion(name, request.kty, std::move(*material), request.key_ops, request.attributes,
                    request.tags);
}

Result<KeyVersion> KeyVault::Import(const std::string& name, ImportKeyRequest request) {
  if (!ValidName(name)) {
    return InvalidArgument("The key name '" + name + "' is invalid: use 1-127 of 0-9 a-z A-Z -.");
  }
  if (request.key_ops) COFFRE_RETURN_IF_ERROR(ValidateOps(*request.key_ops));
  COFFRE_RETURN_IF_ERROR(ValidateAttributes(request.attributes));
  std::unique_lock lock(mu_);
  return AddVersion(name, request.kty, std::move(request.material), request.key_ops,
                    request.attributes, request.tags);
}

Result<KeyVersion> KeyVault::Get(const std::string& name, const std::string& version) {
  std::shared_lock lock(mu_);
  COFFRE_ASSIGN_OR_RETURN(std::string id, IdOf(name));
  return LoadVersion(id, version);
}

Result<std::vector<KeyVersion>> KeyVault::ListLatest() {
  std::shared_lock lock(mu_);
  std::vector<std::string> ids;
  COFFRE_RETURN_IF_ERROR(store_.ScanJson("key/", [&](const std::string& key, const json& j) {
    if (j.is_object() && DeletedMember(j).is_null()) ids.push_back(key.substr(4));
    return true;
  }));
  std::vector<KeyVersion> out;
  for (const auto& id : ids) {
    COFFRE_ASSIGN_OR_RETURN(KeyVersion v, LoadVersion(id, ""));
    out.push_back(std::move(v));
  }
  return out;
}

Result<std::vector<KeyVersion>> KeyVault::ListVersions(const std::string& name) {
  std::shared_lock lock(mu_);
  COFFRE_ASSIGN_OR_RETURN(std::string id, IdOf(name));
  COFFRE_ASSIGN_OR_RETURN(json record, KeyRecord(id));
  std::string display = DisplayName(record, id);
  std::vector<KeyVersion> out;
  for (const auto& v : record["versions"]) {
    if (!v.is_string()) return DataLoss("the record of key " + display + " is malformed");
    COFFRE_ASSIGN_OR_RETURN(json j, store_.GetJson(VersionKey(id, v.get<std::string>())));
    COFFRE_ASSIGN_OR_RETURN(KeyVersion kv, FromJson(display, v.get<std::string>(), j));
    out.push_back(std::move(kv));
  }
  return out;
}

Result<KeyVersion> KeyVault::Update(const std::string& name, const std::string& version,
                                    const UpdateKeyRequest& request) {
  if (request.key_ops) COFFRE_RETURN_IF_ERROR(ValidateOps(*request.key_ops));
  COFFRE_RETURN_IF_ERROR(ValidateAttributes(request.attributes));
  std::unique_lock lock(mu_);
  COFFRE_ASSIGN_OR_RETURN(std::string id, IdOf(name));
  COFFRE_ASSIGN_OR_RETURN(KeyVersion v, LoadVersion(id, version));
  bool was_enabled = v.enabled;
  ApplyAttributes(v, request.attributes);
  if (request.key_ops) v.key_ops = *request.key_ops;
  if (request.tags) v.tags = *request.tags;
  v.updated = clock_.NowSeconds();
  COFFRE_RETURN_IF_ERROR(store_.PutJson(VersionKey(id, v.version), ToJson(v)));
  if (v.enabled != was_enabled) {
    Publish(v.enabled ? event_type::kKeyEnabled : event_type::kKeyDisabled, v);
  }
  return v;
}

Result<KeyVersion> KeyVault::Rotate(const std::string& name, const std::string& if_latest) {
  KeyVersion latest;
  {
    std::shared_lock lock(mu_);
    COFFRE_ASSIGN_OR_RETURN(std::string id, IdOf(name));
    COFFRE_ASSIGN_OR_RETURN(latest, LoadVersion(id, ""));
  }
  Result<KeyMaterial> material =
      IsRsaKty(latest.kty) ? GenerateRsa(latest.key_size) : GenerateOct(latest.key_size);
  if (!material.has_value()) return material.error();
  std::unique_lock lock(mu_);
  COFFRE_ASSIGN_OR_RETURN(std::string id, IdOf(name));
  COFFRE_ASSIGN_OR_RETURN(json record, KeyRecord(id));  // deleted meanwhile?
  if (!if_latest.empty() && record["versions"].back() != if_latest) {
    return FailedPrecondition("Key " + name + " has a newer version than " +
                              if_latest + ".").WithDetail("KeyRotatedMeanwhile");
  }
  KeyAttributesPatch attributes;
  if (record.contains("rotationPolicy")) {
    COFFRE_ASSIGN_OR_RETURN(RotationPolicy policy,
                            RotationPolicyFromRecord(record["rotationPolicy"]));
    if (policy.expiry_time) {
      attributes.exp = std::optional<int64_t>(clock_.NowSeconds() + policy.expiry_time->seconds);
    }
  }
  return AddVersion(latest.name, latest.kty, std::move(*material), latest.key_ops, attributes,
                    latest.tags);
}

Result<DeletedKey> KeyVault::Delete(const std::string& name) {
  std::unique_lock lock(mu_);
  COFFRE_ASSIGN_OR_RETURN(std::string id, IdOf(name));
  COFFRE_ASSIGN_OR_RETURN(json record, KeyRecord(id));
  COFFRE_ASSIGN_OR_RETURN(KeyVersion latest, LoadVersion(id, ""));
  DeletedKey d{std::move(latest), clock_.NowSeconds(), 0};
  d.scheduled_purge_date = d.deleted_date + int64_t{settings_.retention_days} * 86400;
  record["deleted"] = {{"deletedDate", d.deleted_date},
                       {"scheduledPurgeDate", d.scheduled_purge_date}};
  COFFRE_RETURN_IF_ERROR(store_.PutJson(KeyKey(id), record));
  Publish(event_type::kKeyDeleted, d.latest);
  return d;
}

Result<DeletedKey> KeyVault::GetDeleted(const std::string& name) {
  std::unique_lock lock(mu_);
  COFFRE_RETURN_IF_ERROR(PurgeExpiredLocked());
  COFFRE_ASSIGN_OR_RETURN(std::string id, IdOf(name));
  return DeletedLocked(id);
}

Result<DeletedKey> KeyVault::DeletedLocked(const std::string& id) {
  COFFRE_ASSIGN_OR_RETURN(json record, DeletedRecord(id));
  std::string display = DisplayName(record, id);
  const json& versions = record["versions"];
  const json& deleted = record["deleted"];
  if (!versions.is_array() || versions.empty() || !versions.back().is_string() ||
      !deleted.is_object()) {
    return DataLoss("the record of key " + display + " is malformed");
  }
  std::string v = versions.back().get<std::string>();
  COFFRE_ASSIGN_OR_RETURN(json j, store_.GetJson(VersionKey(id, v)));
  COFFRE_ASSIGN_OR_RETURN(KeyVersion latest, FromJson(display, v, j));
  auto date = [&](const char* field) {
    auto it = deleted.find(field);
    return it != deleted.end() && it->is_number_integer() ? it->get<int64_t>() : int64_t{0};
  };
  return DeletedKey{std::move(latest), date("deletedDate"), date("scheduledPurgeDate")};
}

Result<std::vector<DeletedKey>> KeyVault::ListDeleted() {
  std::unique_lock lock(mu_);
  COFFRE_RETURN_IF_ERROR(PurgeExpiredLocked());
  std::vector<std::string> ids;
  COFFRE_RETURN_IF_ERROR(store_.ScanJson("key/", [&](const std::string& key, const json& j) {
    if (!DeletedMember(j).is_null()) ids.push_back(key.substr(4));
    return true;
  }));
  std::vector<DeletedKey> out;
  for (const auto& id : ids) {
    Result<DeletedKey> d = DeletedLocked(id);
    if (d.has_value()) out.push_back(std::move(*d));
  }
  return out;
}

Result<KeyVersion> KeyVault::Recover(const std::string& name) {
  std::unique_lock lock(mu_);
  COFFRE_RETURN_IF_ERROR(PurgeExpiredLocked());
  COFFRE_ASSIGN_OR_RETURN(std::string id, IdOf(name));
  COFFRE_ASSIGN_OR_RETURN(json record, DeletedRecord(id));
  record["deleted"] = nullptr;
  COFFRE_RETURN_IF_ERROR(store_.PutJson(KeyKey(id), record));
  COFFRE_ASSIGN_OR_RETURN(KeyVersion latest, LoadVersion(id, ""));
  Publish(event_type::kKeyRecovered, latest);
  return latest;
}

}  // namespace coffre::vault
