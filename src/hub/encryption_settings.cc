#include "hub/encryption_settings.h"

#include "common/json_fields.h"

namespace coffre::hub {

nlohmann::json EncryptionSettings::TunablesJson() const {
  return {{"keyCheckIntervalMs", key_check_interval_ms},
          {"vaultGraceSeconds", vault_grace_s},
          {"expiredKey", expired_is_inaccessible ? "inaccessible" : "continue"}};
}

nlohmann::json EncryptionSettings::ToJson() const {
  nlohmann::json j = TunablesJson();
  j["keyUri"] = key_uri;
  j["vaultTokenFile"] = vault_token_file;
  j["vaultCaFile"] = vault_ca_file;
  j["keyEventsSecretFile"] = key_events_secret_file;
  return j;
}

Result<EncryptionSettings> EncryptionSettings::FromJson(const nlohmann::json& j) {
  Result<EncryptionSettings> out = [&]() -> Result<EncryptionSettings> {
    COFFRE_ASSIGN_OR_RETURN(JsonFields fields, JsonFields::Of(j));
    EncryptionSettings s;
    COFFRE_ASSIGN_OR_RETURN(s.key_uri, fields.Or<std::string>("keyUri", ""));
    COFFRE_ASSIGN_OR_RETURN(s.vault_token_file, fields.Or<std::string>("vaultTokenFile", ""));
    COFFRE_ASSIGN_OR_RETURN(s.vault_ca_file, fields.Or<std::string>("vaultCaFile", ""));
    COFFRE_ASSIGN_OR_RETURN(s.key_events_secret_file, fields.Or<std::string>("keyEventsSecretFile", ""));
    nlohmann::json tunables = j;
    for (const char* name : {"keyUri", "vaultTokenFile", "vaultCaFile", "keyEventsSecretFile"}) {
      tunables.erase(name);
    }
    return s.With(tunables);
  }();
  if (!out.has_value()) return DataLoss("the stored encryption settings are malformed");
  return out;
}

Result<EncryptionSettings> EncryptionSettings::With(const nlohmann::json& j) const {
  Result<JsonFields> fields = JsonFields::Of(j);
  if (!fields.has_value()) return InvalidArgument("The encryption settings must be a JSON object.");
  EncryptionSettings out = *this;
  for (const auto& [name, value] : j.items()) {
    if (name == "keyCheckIntervalMs") {
      Result<int> v = fields->Required<int>(name);
      if (!v.has_value() || *v < 50 || *v > 500) return InvalidArgument("keyCheckIntervalMs must be 50 to 500.");
      out.key_check_interval_ms = *v;
    } else if (name == "vaultGraceSeconds") {
      Result<int> v = fields->Required<int>(name);
      if (!v.has_value() || *v < 0 || *v > 86400) return InvalidArgument("vaultGraceSeconds must be 0 to 86400.");
      out.vault_grace_s = *v;
    } else if (name == "expiredKey") {
      Result<std::string> v = fields->Required<std::string>(name);
      if (!v.has_value() || (*v != "inaccessible" && *v != "continue")) {
        return InvalidArgument("expiredKey must be inaccessible or continue.");
      }
      out.expired_is_inaccessible = *v == "inaccessible";
    } else {
      return InvalidArgument("Unknown encryption setting '" + name + "'.");
    }
  }
  return out;
}

Result<std::unique_ptr<EncryptionConfig>> EncryptionConfig::Load(storage::KvStore& kv,
                                                                 const EncryptionSettings& initial) {
  Result<Bytes> stored = kv.Get(kEncryptionSettingsRow);
  if (stored.has_value()) {
    COFFRE_ASSIGN_OR_RETURN(EncryptionSettings s, EncryptionSettings::FromJson(
                                                      nlohmann::json::parse(AsChars(*stored), nullptr, false)));
    return std::unique_ptr<EncryptionConfig>(new EncryptionConfig(kv, std::move(s)));
  }
  if (stored.error().code() != StatusCode::kNotFound) return stored.error();
  // A new hub's settings, only if absent: of two hub nodes starting on a new store, the first
  // one's stay, and the other takes them.
  std::string text = initial.ToJson().dump();
  Status put = kv.PutIfAbsent(kEncryptionSettingsRow, AsBytes(text), /*sync=*/true);
  if (put.code() == StatusCode::kAlreadyExists) return Load(kv, initial);
  COFFRE_RETURN_IF_ERROR(put);
  return std::unique_ptr<EncryptionConfig>(new EncryptionConfig(kv, initial));
}

EncryptionSettings EncryptionConfig::Get() const {
  std::lock_guard<std::mutex> guard(mu_);
  return settings_;
}

// The synced write outside mu_, so Get() never waits for an fsync.
Status EncryptionConfig::Set(const EncryptionSettings& next) {
  std::lock_guard<std::mutex> one_write(write_mu_);
  std::string text = next.ToJson().dump();
  COFFRE_RETURN_IF_ERROR(kv_.Put(kEncryptionSettingsRow, AsBytes(text), /*sync=*/true));
  std::lock_guard<std::mutex> guard(mu_);
  settings_ = next;
  return Status::Ok();
}

}  // namespace coffre::hub
