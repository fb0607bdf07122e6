#include "vault/seal/pkcs11_master_key.h"

#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "crypto/aes_gcm.h"
#include "crypto/random.h"
#include "keys/pkcs11_aes_key.h"
#include "keys/pkcs11_module.h"
#include "keys/pkcs11_session.h"
#include "vault/seal/master_key_file.h"

namespace coffre::vault {
namespace {

using crypto::SecretBytes;
using keys::Pkcs11AesKey;

// The option when given, else what the file recorded; a different option is an error, not an
// override: the file names the key that can open it.
Result<std::string> Pick(const std::string& option, const std::string& recorded,
                         const std::string& what, const std::filesystem::path& path) {
  if (option.empty() || option == recorded) return recorded;
  return FailedPrecondition("the vault master key in " + path.string() + " is sealed by the " +
                            what + " '" + recorded + "', not '" + option + "'");
}

}  // namespace

Result<SecretBytes> CreatePkcs11MasterKeyFile(const std::filesystem::path& path,
                                              const Pkcs11MasterKeyOptions& options) {
  if (std::filesystem::exists(path)) return AlreadyExists(path.string() + " exists");
  if (options.token_label.empty()) {
    return InvalidArgument("sealing the master key on a PKCS#11 token needs the token's label");
  }
  std::string key_label = options.key_label.empty() ? kDefaultPkcs11KeyLabel : options.key_label;
  COFFRE_ASSIGN_OR_RETURN(auto module, keys::Pkcs11Module::Load(options.module));
  COFFRE_ASSIGN_OR_RETURN(auto session,
                          keys::Pkcs11Session::Open(*module, options.token_label, options.pin));
  Result<Pkcs11AesKey> key = Pkcs11AesKey::Find(*session, key_label);
  if (!key.has_value() && key.error().code() == StatusCode::kNotFound) {
    key = Pkcs11AesKey::Generate(*session, key_label);
  }
  if (!key.has_value()) return key.error();

  COFFRE_ASSIGN_OR_RETURN(SecretBytes master, SecretBytes::Random(crypto::kAesGcmKeySize));
  Bytes iv(Pkcs11AesKey::kIvSize);
  COFFRE_RETURN_IF_ERROR(crypto::RandomBytes(iv));
  COFFRE_ASSIGN_OR_RETURN(Bytes sealed, key->Seal(iv, AsBytes(kMasterKeyAad), master.Reveal()));
  // Open it once before committing to the file: a token that seals but cannot open (a module
  // with a broken GCM) must not leave a vault that never starts again.
  COFFRE_ASSIGN_OR_RETURN(SecretBytes check, key->Open(iv, AsBytes(kMasterKeyAad), sealed));
  if (!(check == master)) {
    return Internal("the " + session->Describe() + " did not give back what it sealed");
  }
  nlohmann::json j = {{"kdf", kPkcs11Kdf},
                      {"token_label", options.token_label},
                      {"key_label", key_label},
                      {"mechanism", Pkcs11AesKey::kMechanism},
                      {"iv", Base64UrlEncode(iv)},
                      {"sealed", Base64UrlEncode(sealed)}};
  COFFRE_RETURN_IF_ERROR(WriteSealedMasterFile(path, std::move(j), master));
  return master;
}

Result<SecretBytes> UnsealPkcs11MasterKey(const std::filesystem::path& path,
                                          const Pkcs11MasterKeyOptions& options) {
  COFFRE_ASSIGN_OR_RETURN(nlohmann::json j, ReadSealedMasterFile(path, kPkcs11Kdf));
  COFFRE_ASSIGN_OR_RETURN(MasterKeySealing sealing, ReadMasterKeySealing(path));
  if (sealing.mechanism != Pkcs11AesKey::kMechanism) {
    return FailedPrecondition(path.string() + " is sealed with the mechanism '" +
                              sealing.mechanism + "', which this vault does not know");
  }
  auto iv = Base64UrlDecode(TextField(j, "iv"));
  auto sealed = Base64UrlDecode(TextField(j, "sealed"));
  if (sealing.token_label.empty() || sealing.key_label.empty() || !iv.has_value() ||
      !sealed.has_value() || iv->size() != Pkcs11AesKey::kIvSize ||
      sealed->size() != crypto::kAesGcmKeySize + Pkcs11AesKey::kTagSize) {
    return DataLoss(path.string() + " is not a sealed master key file");
  }
  COFFRE_ASSIGN_OR_RETURN(std::string token_label,
                          Pick(options.token_label, sealing.token_label, "PKCS#11 token", path));
  COFFRE_ASSIGN_OR_RETURN(std::string key_label,
                          Pick(options.key_label, sealing.key_label, "token key", path));
  COFFRE_ASSIGN_OR_RETURN(auto module, keys::Pkcs11Module::Load(options.module));
  COFFRE_ASSIGN_OR_RETURN(auto session,
                          keys::Pkcs11Session::Open(*module, token_label, options.pin));
  COFFRE_ASSIGN_OR_RETURN(Pkcs11AesKey key, Pkcs11AesKey::Find(*session, key_label));
  Result<SecretBytes> master = key.Open(*iv, AsBytes(kMasterKeyAad), *sealed);
  if (!master.has_value()) {
    if (master.error().code() != StatusCode::kPermissionDenied) return master.error();
    return PermissionDenied("cannot unseal the vault master key: the key '" + key_label +
                            "' on the PKCS#11 token '" + token_label + "' does not open " +
                            path.string() + " (another key with that label, or a damaged file)");
  }
  COFFRE_RETURN_IF_ERROR(VerifyRecordedLineage(path, j, *master));
  return master;
}

}  // namespace coffre::vault
