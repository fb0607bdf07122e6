#pragma once
// How KeyVault stores a key (internal to src/vault/keys, shared by the key_vault*.cc files):
// the record keys, the version record's JSON, the errors the lifecycle answers, and the
// validation of requests. Not for callers outside this folder.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vault/keys/key_vault.h"

namespace coffre::vault::key_records {

extern const std::vector<std::string> kRsaOps;
extern const std::vector<std::string> kOctOps;

// Records are stored under a key's id (IdOf): the name in lower case, or the exact name of a
// key from before names were case-insensitive that clashes with another (MigrateKeyNames).
std::string VersionKey(const std::string& id, const std::string& v);
std::string MaterialKey(const std::string& id, const std::string& v);

// The key's name as it was created (what kids show); records written before names were
// case-insensitive have no "name" and are stored under it.
std::string DisplayName(const nlohmann::json& record, const std::string& id);

// The "deleted" member of a key record, or null.
const nlohmann::json& DeletedMember(const nlohmann::json& record);

Status NameConflict(const std::string& asked, const std::string& existing);
Status KeyNotFound(const std::string& name, const std::string& version);
Status DeletedKeyNotFound(const std::string& name);
Status DeletedButRecoverable(const std::string& name);

Result<std::string> NewVersionId();
bool IsRsaKty(const std::string& kty);
bool IsOctKty(const std::string& kty);

nlohmann::json ToJson(const KeyVersion& v);
Result<KeyVersion> FromJson(const std::string& name, const std::string& version,
                            const nlohmann::json& j);

Status ValidateOps(const std::vector<std::string>& ops);
Status ValidateAttributes(const KeyAttributesPatch& a);
void ApplyAttributes(KeyVersion& v, const KeyAttributesPatch& a);

}  // namespace coffre::vault::key_records
