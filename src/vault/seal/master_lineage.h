#pragma once
// The master key lineage id: a public name for "vaults holding this master key". Every vault
// opened with the same master key (the same sealed master.json, whatever its passphrase, or a
// copy of it) has the same id; any other master key has another. It is the first 16 bytes of
// HKDF-SHA256(master key, info "coffre/vault/master-lineage/v1"): one-way, under a label of its
// own, so showing it reveals nothing of the master key or of any key derived from it.
// Key backups carry it in the clear to refuse a foreign vault's blob with a clear error.
// Stateless, thread-safe.

#include <cstddef>
#include <string>

#include "common/bytes.h"
#include "common/result.h"
#include "crypto/secret_bytes.h"

namespace coffre::vault {

inline constexpr size_t kMasterLineageIdSize = 16;

// kMasterLineageIdSize bytes; HexEncode them to show them.
Result<Bytes> MasterLineageId(const crypto::SecretBytes& master_key);
// The same id as 32 lower-case hex characters (master.json, seal-status).
Result<std::string> MasterKeyLineage(const crypto::SecretBytes& master_key);

}  // namespace coffre::vault
