#include "hub/encryption_settings.h"

namespace coffre::hub {
namespace {

constexpr const char* kRecord = "config/encryption";

}  // namespace

nlohmann::json EncryptionSettings::ToJson() const {
  return {{"keyCheckIntervalMs", key_check_interval_ms},
          {"vaultGraceSeconds", vault_grace_s},
          {"expiredKey", expired_is_inaccessible ? "inaccessible" : "continue"}};
}

Result<EncryptionSettings> EncryptionSettings::With(const nlohmann::json& j) const {
  if (!j.is_object()) return InvalidArgument("The encryption settings must be a JSON object.");
  EncryptionSettings out = *this;
  for (const auto& [name, value] : j.items()) {
    if (name == "keyCheckIntervalMs") {
      if (!value.is_number_integer() || value.get<int64_t>() < 50 || value.get<int64_t>() > 500) {
        return InvalidArgument("keyCheckIntervalMs must be 50 to 500.");
      }
      out.key_check_interval_ms = value.get<int>();
    } else if (name == "vaultGraceSeconds") {
      if (!value.is_number_integer() || value.get<int64_t>() < 0 || value.get<int64_t>() > 86400) {
        return InvalidArgument("vaultGraceSeconds must be 0 to 86400.");
      }
      out.vault_grace_s = value.get<int>();
    } else if (name == "expiredKey") {
      if (value != "inaccessible" && value != "continue") {
        return InvalidArgument("expiredKey must be inaccessible or continue.");
      }
      out.expired_is_inaccessible = value == "inaccessible";
    } else {
      return InvalidArgument("Unknown encryption setting '" + name + "'.");
    }
  }
  return out;
}

Result<EncryptionSettings> LoadEncryptionSettings(storage::KvStore& kv) {
  COFFRE_ASSIGN_OR_RETURN(Bytes stored, kv.Get(kRecord));
  nlohmann::json j = nlohmann::json::parse(AsChars(stored), nullptr, false);
  Result<EncryptionSettings> settings = EncryptionSettings{}.With(j);
  if (!settings.has_value()) return DataLoss("the stored encryption settings are malformed");
  return settings;
}

Status StoreEncryptionSettings(storage::KvStore& kv, const EncryptionSettings& settings) {
  std::string text = settings.ToJson().dump();
  return kv.Put(kRecord, AsBytes(text), /*sync=*/true);
}

}  // namespace coffre::hub
