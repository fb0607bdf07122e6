#pragma once
// The master key lineage id: a public name for one vault master key, so two vaults (or a backup
// and a vault) can be seen to share a master key without revealing anything about it. It is the
// first 16 bytes, in hex, of HKDF-SHA256(master key, info "coffre/vault-master-lineage"): an
// output under a label of its own, independent of every key the vault derives for use.
// Stateless, thread-safe.

#include <string>

#include "common/result.h"
#include "crypto/secret_bytes.h"

namespace coffre::vault {

// 32 lower-case hex characters.
Result<std::string> MasterKeyLineage(const crypto::SecretBytes& master);

}  // namespace coffre::vault
