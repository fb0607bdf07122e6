#include "hubservice/service_key.h"

#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/strings.h"
#include "storage/file_cipher.h"

namespace coffre::hubservice {
namespace {

constexpr std::string_view kAad = "coffre-hub-service-key-v1";
constexpr std::string_view kPkcs11Kdf = "pkcs11";

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

bool SealedByToken(const nlohmann::json& j) {
  auto kdf = j.find("kdf");
  return kdf != j.end() && kdf->is_string() && *kdf == kPkcs11Kdf;
}

Result<keys::Pkcs11Sealing> Sealing(const ServiceKeyToken& token) {
  keys::Pkcs11Sealing sealing;
  sealing.module = token.module;
  sealing.token_label = token.token_label;
  sealing.key_label = token.key_label;
  COFFRE_ASSIGN_OR_RETURN(std::string pin, ReadTextFile(token.pin_file));
  std::string trimmed = TrimEnd(pin, "\r\n");
  crypto::Cleanse(pin);
  Result<crypto::SecretBytes> secret = crypto::SecretBytes::CopyOf(AsBytes(trimmed));
  crypto::Cleanse(trimmed);
  if (!secret.has_value()) return secret.error();
  sealing.pin = std::move(*secret);
  return sealing;
}

}  // namespace

Result<crypto::SecretBytes> OpenServiceKey(const std::filesystem::path& file,
                                           const std::optional<ServiceKeyToken>& token) {
  if (!token.has_value()) {
    if (!std::filesystem::exists(file)) {
      COFFRE_RETURN_IF_ERROR(storage::CreateServiceKeyFile(file));
    } else if (auto j = ReadFields(file); j.has_value() && SealedByToken(*j)) {
      return FailedPrecondition("service key " + file.string() +
                                " is sealed by a PKCS#11 token: give its PIN file "
                                "(--service-key-pkcs11-pin-file) and token");
    }
    return storage::LoadServiceKeyFile(file);
  }
  COFFRE_ASSIGN_OR_RETURN(keys::Pkcs11Sealing sealing, Sealing(*token));
  if (!std::filesystem::exists(file)) {
    COFFRE_ASSIGN_OR_RETURN(keys::SealedSecret sealed,
                            keys::SealNewSecret(sealing, kServiceKeyTokenKeyLabel, kAad));
    sealed.fields["version"] = 1;
    sealed.fields["kdf"] = kPkcs11Kdf;
    std::string text = sealed.fields.dump() + "\n";
    COFFRE_RETURN_IF_ERROR(WriteFileDurably(file, AsBytes(text), 0600));
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
