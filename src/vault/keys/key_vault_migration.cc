// KeyVault::MigrateKeyNames (declared in key_vault.h): keys created before names were
// case-insensitive are stored under their exact name; they move to their lower-case id.
#include <set>

#include "common/log.h"
#include "vault/keys/key_vault.h"

namespace coffre::vault {
namespace {

using nlohmann::json;

// Moves one key's records from `name` to `id` in one batch: all or nothing.
Status MoveKey(SealedStore& store, const std::string& name, const std::string& id, json record) {
  if (!record.is_object() || !record["versions"].is_array()) {
    return DataLoss("the record of key " + name + " is malformed");
  }
  std::vector<crypto::SecretBytes> materials;  // alive until Apply has sealed them
  std::vector<SealedStore::Change> changes;
  for (const json& v : record["versions"]) {
    if (!v.is_string()) return DataLoss("the record of key " + name + " is malformed");
    const std::string& version = v.get_ref<const std::string&>();
    COFFRE_ASSIGN_OR_RETURN(json j, store.GetJson("ver/" + name + "/" + version));
    COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes m, store.GetSecret("mat/" + name + "/" + version));
    materials.push_back(std::move(m));
    changes.push_back({"ver/" + id + "/" + version, std::move(j), {}, false});
    changes.push_back({"mat/" + id + "/" + version, {}, materials.back().Reveal(), false});
    changes.push_back({"ver/" + name + "/" + version, {}, {}, true});
    changes.push_back({"mat/" + name + "/" + version, {}, {}, true});
  }
  record["name"] = name;
  changes.push_back({"key/" + id, std::move(record), {}, false});
  changes.push_back({"key/" + name, {}, {}, true});
  return store.Apply(changes);
}

}  // namespace

Status KeyVault::MigrateKeyNames(SealedStore& store) {
  std::vector<std::pair<std::string, json>> legacy;
  std::set<std::string> ids;
  COFFRE_RETURN_IF_ERROR(store.ScanJson("key/", [&](const std::string& key, const json& j) {
    std::string name = key.substr(4);
    ids.insert(name);
    if (LowerKeyName(name) != name) legacy.emplace_back(std::move(name), j);
    return true;
  }));
  for (auto& [name, record] : legacy) {
    std::string id = LowerKeyName(name);
    if (ids.count(id) > 0) {
      LogLine("vault", "key " + name + " keeps its exact name: key names are case-insensitive "
                       "now, and " + id + " exists too; reach it as " + name +
                       " (exactly)");
      continue;
    }
    COFFRE_RETURN_IF_ERROR(MoveKey(store, name, id, std::move(record)));
    ids.insert(id);
    LogLine("vault", "key " + name + " is stored under " + id + " (key names are "
                     "case-insensitive); its kids keep the name " + name);
  }
  return Status::Ok();
}

}  // namespace coffre::vault
