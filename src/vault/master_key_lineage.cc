#include "vault/master_key_lineage.h"

#include "common/encoding.h"
#include "crypto/root_key.h"

namespace coffre::vault {

Result<std::string> MasterKeyLineage(const crypto::SecretBytes& master) {
  COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes copy, master.Clone());
  COFFRE_ASSIGN_OR_RETURN(auto root, crypto::RootKey::FromSecret(std::move(copy)));
  COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes derived, root->DeriveKey("vault-master-lineage"));
  return HexEncode(derived.Reveal().first(16));
}

}  // namespace coffre::vault
