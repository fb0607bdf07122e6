#include "keys/pkcs11_sealed_secret.h"

#include <algorithm>

#include "common/encoding.h"
#include "common/files.h"
#include "crypto/aes_gcm.h"
#include "crypto/random.h"
#include "keys/pkcs11_aes_key.h"
#include "keys/pkcs11_module.h"
#include "keys/pkcs11_session.h"

namespace coffre::keys {
namespace {

constexpr size_t kMaxSecretBytes = 4096;

using crypto::SecretBytes;

// The option when given, else what the fields recorded; a different option is an error, not an
// override: the fields name the key that can open them.
Result<std::string> Pick(const std::string& option, const std::string& recorded,
                         const std::string& kind, const std::string& what) {
  if (option.empty() || option == recorded) return recorded;
  return FailedPrecondition(what + " is sealed by the " + kind + " '" + recorded + "', not '" +
                            option + "'");
}

std::string Text(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

Result<SecretBytes> ReadPinFile(const std::filesystem::path& path) {
  COFFRE_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path));
  size_t end = text.find_last_not_of("\r\n");
  Result<SecretBytes> pin =
      SecretBytes::CopyOf(AsBytes(std::string_view(text).substr(0, end == std::string::npos ? 0 : end + 1)));
  crypto::Cleanse(text);
  return pin;
}

bool IsSealedSecretFile(const nlohmann::json& file) {
  if (!file.is_object()) return false;
  auto kdf = file.find("kdf");
  return kdf != file.end() && kdf->is_string() && *kdf == "pkcs11";
}

Status WriteSealedSecretFile(const std::filesystem::path& path, nlohmann::json fields) {
  fields["version"] = 1;
  fields["kdf"] = "pkcs11";
  std::string text = fields.dump() + "\n";
  return WriteFileDurably(path, AsBytes(text), 0600);
}

Result<nlohmann::json> SealSecret(const Pkcs11Sealing& sealing,
                                  std::string_view default_key_label, std::string_view aad,
                                  ByteSpan secret) {
  if (sealing.token_label.empty()) {
    return InvalidArgument("sealing a secret on a PKCS#11 token needs the token's label");
  }
  if (secret.empty() || secret.size() > kMaxSecretBytes) {
    return InvalidArgument("a sealed secret holds 1 to " + std::to_string(kMaxSecretBytes) +
                           " bytes");
  }
  std::string key_label =
      sealing.key_label.empty() ? std::string(default_key_label) : sealing.key_label;
  COFFRE_ASSIGN_OR_RETURN(auto module, Pkcs11Module::Load(sealing.module));
  COFFRE_ASSIGN_OR_RETURN(auto session,
                          Pkcs11Session::Open(*module, sealing.token_label, sealing.pin));
  Result<Pkcs11AesKey> key = Pkcs11AesKey::Find(*session, key_label);
  if (!key.has_value() && key.error().code() == StatusCode::kNotFound) {
    key = Pkcs11AesKey::Generate(*session, key_label);
  }
  if (!key.has_value()) return key.error();
  Bytes iv(Pkcs11AesKey::kIvSize);
  COFFRE_RETURN_IF_ERROR(crypto::RandomBytes(iv));
  COFFRE_ASSIGN_OR_RETURN(Bytes sealed, key->Seal(iv, AsBytes(aad), secret));
  // Open it once before anyone keeps it: a token that seals but cannot open (a module with a
  // broken GCM) must not leave a file that never opens again.
  COFFRE_ASSIGN_OR_RETURN(SecretBytes check, key->Open(iv, AsBytes(aad), sealed));
  if (check.size() != secret.size() ||
      !std::equal(check.Reveal().begin(), check.Reveal().end(), secret.begin())) {
    return Internal("the " + session->Describe() + " did not give back what it sealed");
  }
  return nlohmann::json{{"token_label", sealing.token_label},
                        {"key_label", key_label},
                        {"mechanism", Pkcs11AesKey::kMechanism},
                        {"iv", Base64UrlEncode(iv)},
                        {"sealed", Base64UrlEncode(sealed)}};
}

Result<SealedSecret> SealNewSecret(const Pkcs11Sealing& sealing,
                                   std::string_view default_key_label, std::string_view aad) {
  COFFRE_ASSIGN_OR_RETURN(SecretBytes secret, SecretBytes::Random(crypto::kAesGcmKeySize));
  COFFRE_ASSIGN_OR_RETURN(nlohmann::json fields,
                          SealSecret(sealing, default_key_label, aad, secret.Reveal()));
  return SealedSecret{std::move(secret), std::move(fields)};
}

Result<SecretBytes> OpenSealedSecret(const nlohmann::json& fields, const Pkcs11Sealing& sealing,
                                     std::string_view aad, const std::string& what, size_t size) {
  if (!fields.is_object()) return DataLoss(what + " is not a sealed key");
  std::string mechanism = Text(fields, "mechanism");
  if (mechanism != Pkcs11AesKey::kMechanism) {
    return FailedPrecondition(what + " is sealed with the mechanism '" + mechanism +
                              "', which this version does not know");
  }
  std::string recorded_token = Text(fields, "token_label");
  std::string recorded_key = Text(fields, "key_label");
  auto iv = Base64UrlDecode(Text(fields, "iv"));
  auto sealed = Base64UrlDecode(Text(fields, "sealed"));
  if (recorded_token.empty() || recorded_key.empty() || !iv.has_value() || !sealed.has_value() ||
      iv->size() != Pkcs11AesKey::kIvSize || sealed->size() <= Pkcs11AesKey::kTagSize ||
      sealed->size() > kMaxSecretBytes + Pkcs11AesKey::kTagSize ||
      (size != 0 && sealed->size() != size + Pkcs11AesKey::kTagSize)) {
    return DataLoss(what + " is not a sealed key");
  }
  COFFRE_ASSIGN_OR_RETURN(std::string token_label,
                          Pick(sealing.token_label, recorded_token, "PKCS#11 token", what));
  COFFRE_ASSIGN_OR_RETURN(std::string key_label,
                          Pick(sealing.key_label, recorded_key, "token key", what));
  COFFRE_ASSIGN_OR_RETURN(auto module, Pkcs11Module::Load(sealing.module));
  COFFRE_ASSIGN_OR_RETURN(auto session, Pkcs11Session::Open(*module, token_label, sealing.pin));
  COFFRE_ASSIGN_OR_RETURN(Pkcs11AesKey key, Pkcs11AesKey::Find(*session, key_label));
  Result<SecretBytes> secret = key.Open(*iv, AsBytes(aad), *sealed);
  if (!secret.has_value()) {
    if (secret.error().code() != StatusCode::kPermissionDenied) return secret.error();
    return PermissionDenied("cannot unseal " + what + ": the key '" + key_label +
                            "' on the PKCS#11 token '" + token_label +
                            "' does not open it (another key with that label, or a damaged file)");
  }
  return secret;
}

}  // namespace coffre::keys
