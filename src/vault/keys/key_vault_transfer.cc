// KeyVault: backup snapshots, restore, and purge (declared in key_vault.h).
#include <algorithm>
#include <mutex>

#include "vault/keys/key_records.h"
#include "vault/keys/key_vault.h"

namespace coffre::vault {

using nlohmann::json;
using namespace key_records;  // NOLINT: this folder's own storage helpers

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
  if (settings_.purge_protection && clock_.NowSeconds() < purge_date) {
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
  int64_t now = clock_.NowSeconds();
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

}  // namespace coffre::vault
