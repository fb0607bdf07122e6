// Fuzzes the hub backup reader (hub/backup_stream.h), what `coffre hub restore` reads from a
// file nobody vouches for: the clear header, the chunks and the entries inside them. Byte 0
// picks the target: even, the rest as a whole file read under a fixed key (0x42 * 32: the seeds
// in fuzz/corpus/backup_stream_fuzz use it); odd, the rest cut into rows and records that are
// written as a backup and must read back the same.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

#include "common/check.h"
#include "crypto/secure_heap.h"
#include "hub/backup_stream.h"

using namespace coffre;

namespace {

const crypto::SecretBytes& Key() {
  static const crypto::SecretBytes* key = [] {
    COFFRE_CHECK(crypto::InitSecureHeap().ok());
    return new crypto::SecretBytes(crypto::SecretBytes::CopyOf(Bytes(32, std::byte{0x42})).value());
  }();
  return *key;
}

UniqueFd MemFile(const uint8_t* data, size_t size) {
  UniqueFd fd(::memfd_create("backup", MFD_CLOEXEC));
  COFFRE_CHECK(static_cast<bool>(fd));
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::write(fd.get(), data + done, size - done);
    COFFRE_CHECK(n > 0);
    done += static_cast<size_t>(n);
  }
  ::lseek(fd.get(), 0, SEEK_SET);
  return fd;
}

void ReadAll(const uint8_t* data, size_t size) {
  auto reader = hub::BackupReader::Open(MemFile(data, size));
  if (!reader.has_value()) return;
  COFFRE_CHECK((*reader)->Unlock(Key()).ok());
  for (int i = 0; i < 100000; ++i) {
    auto e = (*reader)->Next();
    if (!e.has_value() || e->kind == hub::BackupEntry::Kind::kEnd) return;
  }
}

void RoundTrip(const uint8_t* data, size_t size) {
  hub::BackupHeader h;
  h.hub_name = "fuzz";
  h.salt = Bytes(16, std::byte{1});
  h.partitions = 1;
  UniqueFd out(::memfd_create("backup", MFD_CLOEXEC));
  int raw = ::dup(out.get());
  auto writer = std::move(hub::BackupWriter::Start(std::move(out), h, Key()).value());
  // Each input byte b: a row of b bytes, or (odd b) a record of b * 64 bytes.
  uint64_t sequence = 0;
  COFFRE_CHECK(writer->BeginPartition(0, 0, size).ok());
  for (size_t i = 0; i < size; ++i) {
    if (data[i] % 2 == 0) {
      COFFRE_CHECK(writer->AddRow("r" + std::to_string(i), Bytes(data[i], std::byte{data[i]})).ok());
    } else {
      storage::StoredRecord r;
      r.sequence = sequence++;
      r.payload = Bytes(size_t{data[i]} * 64, std::byte{data[i]});
      COFFRE_CHECK(writer->AddRecord(r).ok());
    }
  }
  COFFRE_CHECK(writer->Finish().ok());
  ::lseek(raw, 0, SEEK_SET);
  auto reader = std::move(hub::BackupReader::Open(UniqueFd(raw)).value());
  COFFRE_CHECK(reader->Unlock(Key()).ok());
  size_t entries = 0;
  while (true) {
    auto e = reader->Next();
    COFFRE_CHECK(e.has_value());
    if (e->kind == hub::BackupEntry::Kind::kEnd) break;
    ++entries;
  }
  COFFRE_CHECK(entries == size + 1);  // and the partition
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Key();
  if (size < 1) return 0;
  if (data[0] % 2 == 0) {
    ReadAll(data + 1, size - 1);
  } else {
    RoundTrip(data + 1, std::min<size_t>(size - 1, 4096));
  }
  return 0;
}
