#pragma once
// KeySnapshot: every version of one key as the vault stores it (records and key material), the
// unit of backup and restore. The metadata travels as JSON (EncodeKeySnapshotMeta), the
// material as one secret buffer with every version's material in version order.
// The JSON layout is in docs/VAULT.md (Backup blob). Value type, thread-compatible.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/bytes.h"
#include "common/result.h"
#include "crypto/secret_bytes.h"

namespace coffre::vault {

struct KeySnapshot {
  struct Version {
    std::string id;         // 32 lowercase hex characters
    nlohmann::json record;  // as KeyVault stores it: kty, size, key_ops, attributes, tags, n, e
    size_t material_offset = 0, material_size = 0;  // in `material`
  };

  std::string name;
  // The key's own record without its version list and deletion state (what else it holds, such
  // as a rotation policy, comes back with a restore).
  nlohmann::json record = nlohmann::json::object();
  std::vector<Version> versions;  // oldest first: the last one is the latest
  crypto::SecretBytes material;   // every version's material, concatenated in version order

  ByteSpan MaterialOf(const Version& v) const {
    return material.Reveal().subspan(v.material_offset, v.material_size);
  }
};

// {"name", "record", "versions":[{"id", "record", "material_size"}]}: no key material.
std::string EncodeKeySnapshotMeta(const KeySnapshot& snapshot);

// The inverse, with `material` holding what EncodeKeySnapshotMeta's versions describe.
// INVALID_ARGUMENT for anything malformed: not JSON, a field of the wrong type, a bad name or
// version id, a repeated version, sizes that do not add up to material.size().
Result<KeySnapshot> DecodeKeySnapshot(std::string_view meta, crypto::SecretBytes material);

}  // namespace coffre::vault
