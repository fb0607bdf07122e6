#include "vault/keys/key_backup.h"

#include <algorithm>
#include <cstring>

#include "common/encoding.h"
#include "crypto/aes_gcm.h"
#include "crypto/envelope.h"
#include "crypto/random.h"
#include "crypto/root_key.h"
#include "vault/seal/master_lineage.h"

namespace coffre::vault {
namespace {

constexpr char kMagic[4] = {'C', 'F', 'K', 'B'};
constexpr uint8_t kFormat = 1;
constexpr size_t kLineageOffset = 5;
constexpr size_t kClearHeaderSize = kLineageOffset + kMasterLineageIdSize;  // 21
constexpr size_t kMetaOffset = kClearHeaderSize + 4;                        // 25: meta length
// Envelope key ids: which part of a blob an envelope seals (authenticated with it).
constexpr uint32_t kMetaKeyId = 0x4B424D01;      // "KBM" 1
constexpr uint32_t kMaterialKeyId = 0x4B424B01;  // "KBK" 1

Status NotABackup() {
  return InvalidArgument("The value is not a key backup blob of this vault (it is truncated, or "
                         "not a Coffre key backup).");
}

Status IntegrityFailed() {
  return InvalidArgument("The key backup blob failed its integrity check: it is damaged or was "
                         "altered.");
}

Result<Bytes> SealPart(crypto::AesGcm& aead, uint32_t key_id, ByteSpan aad, ByteSpan plaintext) {
  crypto::EnvelopeHeader header;
  header.key_id = key_id;
  COFFRE_RETURN_IF_ERROR(crypto::RandomBytes(header.nonce));
  return crypto::SealEnvelope(aead, header, aad, plaintext);
}

// The envelope's header must name the part it is read as.
Status CheckPart(ByteSpan envelope, uint32_t key_id) {
  Result<crypto::EnvelopeHeader> header = crypto::ReadEnvelopeHeader(envelope);
  if (!header.has_value() || header->key_id != key_id) return IntegrityFailed();
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<KeyBackup>> KeyBackup::Create(const crypto::SecretBytes& master_key) {
  COFFRE_ASSIGN_OR_RETURN(Bytes lineage, MasterLineageId(master_key));
  COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes copy, master_key.Clone());
  COFFRE_ASSIGN_OR_RETURN(auto root, crypto::RootKey::FromSecret(std::move(copy)));
  COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes key, root->DeriveKey("vault/key-backup/v1"));
  return std::unique_ptr<KeyBackup>(new KeyBackup(std::move(key), std::move(lineage)));
}

Result<Bytes> KeyBackup::Seal(const KeySnapshot& snapshot) const {
  if (snapshot.material.size() > kMaxBackupMaterialBytes) {
    return InvalidArgument("The key " + snapshot.name + " is too large to back up: its " +
                           std::to_string(snapshot.versions.size()) +
                           " versions hold more key material than a backup blob may (" +
                           std::to_string(kMaxBackupMaterialBytes / 1024) + " KiB).");
  }
  COFFRE_ASSIGN_OR_RETURN(auto aead, crypto::AesGcm::Create(key_));
  Bytes blob(kMetaOffset);
  std::memcpy(blob.data(), kMagic, sizeof kMagic);
  blob[4] = std::byte(kFormat);
  std::copy(lineage_id_.begin(), lineage_id_.end(), blob.begin() + kLineageOffset);
  std::string meta = EncodeKeySnapshotMeta(snapshot);
  PutU32(blob.data() + kClearHeaderSize,
         static_cast<uint32_t>(crypto::SealedEnvelopeSize(meta.size())));
  COFFRE_ASSIGN_OR_RETURN(Bytes meta_part, SealPart(*aead, kMetaKeyId, blob, AsBytes(meta)));
  blob.insert(blob.end(), meta_part.begin(), meta_part.end());
  COFFRE_ASSIGN_OR_RETURN(Bytes material_part, SealPart(*aead, kMaterialKeyId, blob,
                                                        snapshot.material.Reveal()));
  blob.insert(blob.end(), material_part.begin(), material_part.end());
  return blob;
}

Result<KeySnapshot> KeyBackup::Open(ByteSpan blob) const {
  if (blob.size() < kMetaOffset || std::memcmp(blob.data(), kMagic, sizeof kMagic) != 0) {
    return NotABackup();
  }
  if (uint8_t(blob[4]) != kFormat) {
    return InvalidArgument("The key backup blob has format " + std::to_string(uint8_t(blob[4])) +
                           "; this vault reads format " + std::to_string(kFormat) + ".");
  }
  ByteSpan lineage = blob.subspan(kLineageOffset, kMasterLineageIdSize);
  if (!std::equal(lineage.begin(), lineage.end(), lineage_id_.begin(), lineage_id_.end())) {
    return InvalidArgument(
        "Backup blob is from a different key vault: it was made under master key lineage " +
        HexEncode(lineage) + ", and this vault's is " + HexEncode(lineage_id_) +
        ". A key backup restores only into a vault with the same master key.");
  }
  size_t meta_size = GetU32(blob.data() + kClearHeaderSize);
  if (meta_size < crypto::kEnvelopeOverhead || meta_size > blob.size() - kMetaOffset ||
      blob.size() - kMetaOffset - meta_size <= crypto::kEnvelopeOverhead ||
      blob.size() - kMetaOffset - meta_size - crypto::kEnvelopeOverhead >
          kMaxBackupMaterialBytes) {
    return NotABackup();
  }
  ByteSpan meta_part = blob.subspan(kMetaOffset, meta_size);
  ByteSpan material_part = blob.subspan(kMetaOffset + meta_size);
  COFFRE_RETURN_IF_ERROR(CheckPart(meta_part, kMetaKeyId));
  COFFRE_RETURN_IF_ERROR(CheckPart(material_part, kMaterialKeyId));
  COFFRE_ASSIGN_OR_RETURN(auto aead, crypto::AesGcm::Create(key_));
  Result<Bytes> meta = crypto::OpenEnvelope(*aead, meta_part, blob.first(kMetaOffset));
  if (!meta.has_value()) return IntegrityFailed();
  COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes material,
                          crypto::SecretBytes::Allocate(material_part.size() -
                                                        crypto::kEnvelopeOverhead));
  if (!crypto::OpenEnvelope(*aead, material_part, blob.first(kMetaOffset + meta_size),
                            material.RevealMutable())
           .ok()) {
    return IntegrityFailed();
  }
  return DecodeKeySnapshot(AsChars(*meta), std::move(material));
}

}  // namespace coffre::vault
