#include "vault/key_vault.h"

#include <algorithm>
#include <mutex>

#include "common/encoding.h"
#include "crypto/random.h"

namespace coffre::vault {
namespace {

using nlohmann::json;

const std::vector<std::string> kRsaOps = {"encrypt", "decrypt", "sign", "verify", "wrapKey",
                                          "unwrapKey"};
const std::vector<std::string> kOctOps = {"encrypt", "decrypt", "wrapKey", "unwrapKey"};
const std::vector<std::string> kKnownOps = {"encrypt", "decrypt", "sign", "verify",
                                            "wrapKey", "unwrapKey", "import", "export"};

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

}  // namespace

std::string VaultSettings::RecoveryLevel() const {
  std::string level = retention_days == 90 ? "Recoverable" : "CustomizedRecoverable";
  return purge_protection ? level : level + "+Purgeable";
}

KeyVault::KeyVault(SealedStore& store, VaultSettings settings, Clock clock,
                   DestroyDeletedData destroy, KeyEventSink* events)
    : store_(store),
      settings_(settings),
      clock_(std::move(clock)),
      destroy_(std::move(destroy)),
      events_(events) {}

// Called with mu_ held, after the change is durable: events leave in the order of the changes.
void KeyVault::Publish(std::string_view type, const KeyVersion& v) {
  if (events_ == nullptr) return;
  events_->Publish(KeyEvent{std::string(type), v.name, v.version, v.nbf, v.exp, clock_()});
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
  v.created = v.updated = clock_();
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
  v.updated = clock_();
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
      attributes.exp = std::optional<int64_t>(clock_() + policy.expiry_time->seconds);
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
  DeletedKey d{std::move(latest), clock_(), 0};
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

Result<KeySnapshot> KeyVault::Snapshot(const std::string& name) {
  std::shared_lock lock(mu_);
  COFFRE_ASSIGN_OR_RETURN(std::string id, IdOf(name));
  COFFRE_ASSIGN_OR_RETURN(json record, KeyRecord(id));
  KeySnapshot snapshot;
  snapshot.name = DisplayName(record, id);
  std::vector<crypto::SecretBytes> materials;
  size_t total = 0;
  for (const auto& version : record["versions"]) {
    if (!version.is_string()) return DataLoss("the record of key " + name + " is malformed");
    const std::string& v = version.get_ref<const std::string&>();
    COFFRE_ASSIGN_OR_RETURN(json j, store_.GetJson(VersionKey(id, v)));
    COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes m, store_.GetSecret(MaterialKey(id, v)));
    snapshot.versions.push_back({v, std::move(j), total, m.size()});
    total += m.size();
    materials.push_back(std::move(m));
  }
  record.erase("versions");
  record.erase("deleted");
  record.erase("name");  // the snapshot's own field
  snapshot.record = std::move(record);
  COFFRE_ASSIGN_OR_RETURN(snapshot.material, crypto::SecretBytes::Allocate(total));
  for (size_t i = 0; i < materials.size(); ++i) {
    ByteSpan m = materials[i].Reveal();
    std::copy(m.begin(), m.end(),
              snapshot.material.RevealMutable().begin() + snapshot.versions[i].material_offset);
  }
  return snapshot;
}

Result<KeyVersion> KeyVault::Restore(const KeySnapshot& snapshot) {
  const std::string& name = snapshot.name;
  if (!ValidName(name) || snapshot.versions.empty()) {
    return InvalidArgument("The key backup names no valid key.");
  }
  json record = snapshot.record.is_object() ? snapshot.record : json::object();
  record["name"] = name;
  record["versions"] = json::array();
  record["deleted"] = nullptr;
  // Backups made before names were case-insensitive restore under the lower-case id too.
  std::string id = LowerKeyName(name);
  std::vector<SealedStore::Change> changes;
  for (const auto& v : snapshot.versions) {
    // The blob is authentic, but its records must still read back as versions.
    bool readable = false;
    try {
      readable = v.record.is_object() && FromJson(name, v.id, v.record).has_value();
    } catch (const json::exception&) {  // a field of the wrong type: not readable
    }
    if (!readable || v.material_offset + v.material_size > snapshot.material.size()) {
      return InvalidArgument("The key backup holds a version that cannot be read: " + v.id);
    }
    record["versions"].push_back(v.id);
    changes.push_back({VersionKey(id, v.id), v.record, {}, false});
    changes.push_back({MaterialKey(id, v.id), {}, snapshot.MaterialOf(v), false});
  }
  changes.insert(changes.begin(), {KeyKey(id), record, {}, false});

  std::unique_lock lock(mu_);
  COFFRE_RETURN_IF_ERROR(PurgeExpiredLocked());
  Result<json> existing = store_.GetJson(KeyKey(id));
  if (!existing.has_value() && existing.error().code() == StatusCode::kNotFound && id != name) {
    existing = store_.GetJson(KeyKey(name));  // a clashing key from before the migration
  }
  if (existing.has_value()) {
    if (existing->is_object() && !(*existing)["deleted"].is_null()) {
      return DeletedButRecoverable(DisplayName(*existing, id));
    }
    return AlreadyExists("There was a conflict restoring the key " + name +
                         ": a key with this name already exists in this vault. Restore needs "
                         "the name to be free (never used, or purged).");
  }
  if (existing.error().code() != StatusCode::kNotFound) return existing.error();
  COFFRE_RETURN_IF_ERROR(store_.Apply(changes));
  COFFRE_ASSIGN_OR_RETURN(KeyVersion latest, LoadVersion(id, ""));
  // To subscribers a restored key is a new latest version (a purged customer key may be back):
  // their cue to re-check it.
  Publish(event_type::kKeyNewVersionCreated, latest);
  return latest;
}

Status KeyVault::Purge(const std::string& name) {
  std::unique_lock lock(mu_);
  COFFRE_ASSIGN_OR_RETURN(std::string id, IdOf(name));
  COFFRE_ASSIGN_OR_RETURN(json record, DeletedRecord(id));
  const json& deleted = record["deleted"];
  int64_t purge_date = deleted.is_object() && deleted["scheduledPurgeDate"].is_number_integer()
                           ? deleted["scheduledPurgeDate"].get<int64_t>()
                           : 0;
  if (settings_.purge_protection && clock_() < purge_date) {
    return PermissionDenied(
        "Operation \"purge\" is not allowed because purge protection is "
        "enabled for this vault. Key Vault service will automatically purge it after the "
        "retention period has passed.").WithDetail("PurgeProtected");
  }
  return PurgeLocked(id);
}

Status KeyVault::PurgeLocked(const std::string& id) {
  COFFRE_ASSIGN_OR_RETURN(json record, store_.GetJson(KeyKey(id)));
  if (!record.is_object() || !record["versions"].is_array()) record["versions"] = json::array();
  // What the event says of the key, read before it is gone.
  KeyVersion latest;
  latest.name = DisplayName(record, id);
  std::vector<SealedStore::Change> erase = {{KeyKey(id), {}, {}, true}};
  for (const auto& v : record["versions"]) {
    if (!v.is_string()) continue;
    erase.push_back({VersionKey(id, v.get<std::string>()), {}, {}, true});
    erase.push_back({MaterialKey(id, v.get<std::string>()), {}, {}, true});
  }
  if (!record["versions"].empty() && record["versions"].back().is_string()) {
    std::string v = record["versions"].back().get<std::string>();
    COFFRE_ASSIGN_OR_RETURN(json j, store_.GetJson(VersionKey(id, v)));
    COFFRE_ASSIGN_OR_RETURN(latest, FromJson(latest.name, v, j));
  }
  COFFRE_RETURN_IF_ERROR(store_.Apply(erase));
  Publish(event_type::kKeyPurged, latest);
  return destroy_ ? destroy_() : Status::Ok();
}

Status KeyVault::PurgeExpiredLocked() {
  std::vector<std::string> due;
  int64_t now = clock_();
  COFFRE_RETURN_IF_ERROR(store_.ScanJson("key/", [&](const std::string& key, const json& j) {
    const json& deleted = DeletedMember(j);
    if (!deleted.is_object()) return true;
    auto date = deleted.find("scheduledPurgeDate");
    if (date == deleted.end() || !date->is_number_integer() || date->get<int64_t>() <= now) {
      due.push_back(key.substr(4));
    }
    return true;
  }));
  for (const auto& name : due) COFFRE_RETURN_IF_ERROR(PurgeLocked(name));
  return Status::Ok();
}

Result<OperationResult> KeyVault::Operate(const std::string& name, const std::string& version,
                                          const std::string& op, const std::string& alg,
                                          ByteSpan value) {
  std::shared_lock lock(mu_);
  COFFRE_ASSIGN_OR_RETURN(std::string id, IdOf(name));
  COFFRE_ASSIGN_OR_RETURN(KeyVersion v, LoadVersion(id, version));
  if (!v.enabled) {
    return FailedPrecondition("Operation " + op +
                              " is not allowed on a disabled key.").WithDetail("KeyDisabled");
  }
  if (std::find(v.key_ops.begin(), v.key_ops.end(), op) == v.key_ops.end()) {
    return FailedPrecondition("Operation " + op +
                              " is not permitted on this key.").WithDetail("KeyOperationForbidden");
  }
  bool protects = op == "encrypt" || op == "wrapKey";
  int64_t now = clock_();
  if (protects && v.nbf && now < *v.nbf) {
    return FailedPrecondition("Operation " + op +
                              " is not allowed before the key's activation date.").WithDetail("KeyNotYetValid");
  }
  if (protects && v.exp && now >= *v.exp) {
    return FailedPrecondition("Operation " + op +
                              " is not allowed on an expired key.").WithDetail("KeyExpired");
  }
  // RSA wrap and encrypt need only the public parts the version record holds: the private key
  // is neither read nor parsed for them.
  bool rsa = IsRsaKty(v.kty);
  crypto::SecretBytes secret;
  if (!rsa || !protects) {
    COFFRE_ASSIGN_OR_RETURN(secret, store_.GetSecret(MaterialKey(id, v.version)));
  }
  KeyMaterial material{rsa ? KeyKind::kRsa : KeyKind::kOct, v.key_size, std::move(secret),
                       std::move(v.n), std::move(v.e)};
  OperationResult out{v.name, v.version, {}};
  if (protects) {
    COFFRE_ASSIGN_OR_RETURN(out.value, Encrypt(material, alg, value));
  } else {
    COFFRE_ASSIGN_OR_RETURN(out.value, Decrypt(material, alg, value));
  }
  return out;
}

}  // namespace coffre::vault
