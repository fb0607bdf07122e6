// Fuzzes the key backup blob parser, what `POST /keys/restore` reads once its value is
// base64url-decoded: the clear header, the two envelopes and the snapshot metadata. Byte 0
// picks the target: even, the rest as a whole blob through KeyBackup::Open under a fixed master
// key; odd, the rest as metadata JSON through DecodeKeySnapshot (which only an authentic blob
// reaches), with byte 1 bytes of material. What parses must encode and parse to the same value.
#include <cstdint>

#include "common/check.h"
#include "crypto/secure_heap.h"
#include "vault/keys/key_backup.h"

using namespace coffre;

namespace {

vault::KeyBackup& Backup() {
  static vault::KeyBackup* backup = [] {
    COFFRE_CHECK(crypto::InitSecureHeap().ok());
    Bytes master(32, std::byte{0x42});  // the seeds in fuzz/corpus/key_backup_fuzz use it
    return vault::KeyBackup::Create(crypto::SecretBytes::CopyOf(master).value()).value().release();
  }();
  return *backup;
}

void CheckRoundTrip(const vault::KeySnapshot& snapshot) {
  std::string meta = vault::EncodeKeySnapshotMeta(snapshot);
  auto again = vault::DecodeKeySnapshot(meta, snapshot.material.Clone().value());
  COFFRE_CHECK(again.has_value() && vault::EncodeKeySnapshotMeta(*again) == meta);
  auto blob = Backup().Seal(snapshot);
  COFFRE_CHECK(blob.has_value());
  auto opened = Backup().Open(*blob);
  COFFRE_CHECK(opened.has_value() && vault::EncodeKeySnapshotMeta(*opened) == meta &&
               opened->material == snapshot.material);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vault::KeyBackup& backup = Backup();
  if (size < 2) return 0;
  ByteSpan rest(reinterpret_cast<const std::byte*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    auto snapshot = backup.Open(rest);
    if (snapshot.has_value()) CheckRoundTrip(*snapshot);
    return 0;
  }
  auto material = crypto::SecretBytes::Allocate(data[1]);
  COFFRE_CHECK(material.has_value());
  auto snapshot = vault::DecodeKeySnapshot(AsChars(rest.subspan(1)), std::move(*material));
  if (snapshot.has_value()) CheckRoundTrip(*snapshot);
  return 0;
}
