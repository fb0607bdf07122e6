#include "vault/seal/pkcs11_master_key.h"

#include <nlohmann/json.hpp>

#include "vault/seal/master_key_file.h"

namespace coffre::vault {

using crypto::SecretBytes;

Result<SecretBytes> CreatePkcs11MasterKeyFile(const std::filesystem::path& path,
                                              const Pkcs11MasterKeyOptions& options) {
  if (std::filesystem::exists(path)) return AlreadyExists(path.string() + " exists");
  COFFRE_ASSIGN_OR_RETURN(keys::SealedSecret sealed,
                          keys::SealNewSecret(options, kDefaultPkcs11KeyLabel, kMasterKeyAad));
  sealed.fields["kdf"] = kPkcs11Kdf;
  COFFRE_RETURN_IF_ERROR(WriteSealedMasterFile(path, std::move(sealed.fields), sealed.secret));
  return std::move(sealed.secret);
}

Result<SecretBytes> UnsealPkcs11MasterKey(const std::filesystem::path& path,
                                          const Pkcs11MasterKeyOptions& options) {
  COFFRE_ASSIGN_OR_RETURN(nlohmann::json j, ReadSealedMasterFile(path, kPkcs11Kdf));
  COFFRE_ASSIGN_OR_RETURN(SecretBytes master,
                          keys::OpenSealedSecret(j, options, kMasterKeyAad,
                                                 "the vault master key in " + path.string()));
  COFFRE_RETURN_IF_ERROR(VerifyRecordedLineage(path, j, master));
  return master;
}

}  // namespace coffre::vault
