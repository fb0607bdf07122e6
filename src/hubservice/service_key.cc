#include "hubservice/service_key.h"

#include <nlohmann/json.hpp>

#include "common/files.h"
#include "storage/file_cipher.h"

namespace coffre::hubservice {
namespace {

constexpr std::string_view kAad = "coffre-hub-service-key-v1";

// The file's JSON (no secret in a sealed one; a plain one is read by storage, not here).
Result<nlohmann::json> ReadFields(const std::filesystem::path& file) {
  COFFRE_ASSIGN_OR_RETURN(std::string text, ReadTextFile(file));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  crypto::Cleanse(text);
  if (j.is_discarded() || !j.is_object()) {
    return InvalidArgument("service key " + file.string() + " is not a service key file");
  }
  return j;
}

bool SealedByToken(const nlohmann::json& j) { return keys::IsSealedSecretFile(j); }

}  // namespace

Result<keys::Pkcs11Sealing> TokenSealing(const ServiceKeyToken& token) {
  keys::Pkcs11Sealing sealing;
  sealing.module = token.module;
  sealing.token_label = token.token_label;
  sealing.key_label = token.key_label;
  COFFRE_ASSIGN_OR_RETURN(sealing.pin, keys::ReadPinFile(token.pin_file));
  return sealing;
}

Result<crypto::SecretBytes> OpenServiceKey(const std::filesystem::path& file,
                                           const std::optional<ServiceKeyToken>& token) {
  if (!token.has_value()) {
    if (!std::filesystem::exists(file)) {
      COFFRE_RETURN_IF_ERROR(storage::CreateServiceKeyFile(file));
    } else if (auto j = ReadFields(file); j.has_value() && SealedByToken(*j)) {
      return FailedPrecondition("service key " + file.string() +
                                " is sealed by a PKCS#11 token: give its PIN file "
                                "(--pkcs11-pin-file) and token");
    }
    return storage::LoadServiceKeyFile(file);
  }
  COFFRE_ASSIGN_OR_RETURN(keys::Pkcs11Sealing sealing, TokenSealing(*token));
  if (!std::filesystem::exists(file)) {
    COFFRE_ASSIGN_OR_RETURN(keys::SealedSecret sealed,
                            keys::SealNewSecret(sealing, kServiceKeyTokenKeyLabel, kAad));
    COFFRE_RETURN_IF_ERROR(keys::WriteSealedSecretFile(file, std::move(sealed.fields)));
    return std::move(sealed.secret);
  }
  COFFRE_ASSIGN_OR_RETURN(nlohmann::json j, ReadFields(file));
  if (!SealedByToken(j)) {
    return FailedPrecondition("service key " + file.string() +
                              " holds a plain key, not one sealed by a PKCS#11 token: move it "
                              "away only if the hub's data is new (its files are under it)");
  }
  return keys::OpenSealedSecret(j, sealing, kAad, "the service key in " + file.string());
}

}  // namespace coffre::hubservice
