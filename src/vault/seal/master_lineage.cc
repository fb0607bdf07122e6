#include "vault/seal/master_lineage.h"

#include "common/encoding.h"
#include "crypto/root_key.h"

namespace coffre::vault {

Result<Bytes> MasterLineageId(const crypto::SecretBytes& master_key) {
  COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes copy, master_key.Clone());
  COFFRE_ASSIGN_OR_RETURN(auto root, crypto::RootKey::FromSecret(std::move(copy)));
  COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes derived, root->DeriveKey("vault/master-lineage/v1"));
  ByteSpan id = derived.Reveal().first(kMasterLineageIdSize);
  return Bytes(id.begin(), id.end());
}

Result<std::string> MasterKeyLineage(const crypto::SecretBytes& master_key) {
  COFFRE_ASSIGN_OR_RETURN(Bytes id, MasterLineageId(master_key));
  return HexEncode(id);
}

}  // namespace coffre::vault
