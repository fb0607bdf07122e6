#pragma once
// KeyBackup: seals a KeySnapshot into the opaque blob of `POST /keys/{n}/backup` and opens it
// again for `POST /keys/restore`. The blob is sealed under the vault's backup key,
// HKDF-SHA256(master key, "coffre/vault/key-backup/v1"), so it restores only into a vault of the
// same master key lineage (master_lineage.h); its clear header names that lineage, so a blob
// from another vault is refused with a clear error before any decryption is tried.
//
// Layout (big-endian; docs/VAULT.md, Backup blob):
//   "CFKB" | format 1 (1) | lineage id (16) | meta length (4) | meta envelope | material envelope
// Both envelopes are AES-256-GCM (crypto/envelope.h) with random nonces; the meta envelope's AAD
// is the 25 bytes before it, the material envelope's everything before it, so no part of a blob
// can be changed, cut or swapped with a part of another blob undetected. The metadata (JSON,
// key_snapshot.h) is opened into ordinary memory, the key material only into SecretBytes.
// Every failure is INVALID_ARGUMENT with a message an operator can act on.
// Thread-safe (each call builds its own cipher context).

#include <memory>

#include "common/bytes.h"
#include "common/result.h"
#include "crypto/secret_bytes.h"
#include "vault/keys/key_snapshot.h"

namespace coffre::vault {

// Key material a blob may hold: about 80 RSA-4096 versions, and far below the request limit.
inline constexpr size_t kMaxBackupMaterialBytes = 192 * 1024;

class KeyBackup {
 public:
  static Result<std::unique_ptr<KeyBackup>> Create(const crypto::SecretBytes& master_key);

  Result<Bytes> Seal(const KeySnapshot& snapshot) const;
  Result<KeySnapshot> Open(ByteSpan blob) const;

  ByteSpan lineage_id() const { return lineage_id_; }

 private:
  KeyBackup(crypto::SecretBytes key, Bytes lineage_id)
      : key_(std::move(key)), lineage_id_(std::move(lineage_id)) {}

  crypto::SecretBytes key_;
  Bytes lineage_id_;
};

}  // namespace coffre::vault
