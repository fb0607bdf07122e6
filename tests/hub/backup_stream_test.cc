// The backup file (hub/backup_stream.h): what is written reads back entry for entry, across
// chunks; every kind of damage (a flipped byte anywhere, a cut at any chunk boundary or inside
// one, chunks moved, dropped or repeated, bytes after the end, another header, another key) is
// DATA_LOSS, never an entry read as valid past the damage.
#include "hub/backup_stream.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "common/bytes.h"
#include "common/files.h"
#include "crypto/random.h"
#include "test_util.h"

namespace coffre::hub {
namespace {

using coffre::testing::StatusIs;

crypto::SecretBytes Key(std::byte fill) {
  return crypto::SecretBytes::CopyOf(Bytes(32, fill)).value();
}

UniqueFd MemFile(ByteSpan content = {}) {
  UniqueFd fd(::memfd_create("backup", MFD_CLOEXEC));
  if (!content.empty()) {
    EXPECT_EQ(::write(fd.get(), content.data(), content.size()), ssize_t(content.size()));
  }
  ::lseek(fd.get(), 0, SEEK_SET);
  return fd;
}

Bytes ReadBack(int fd) {
  Bytes out(static_cast<size_t>(::lseek(fd, 0, SEEK_END)));
  EXPECT_EQ(::pread(fd, out.data(), out.size(), 0), ssize_t(out.size()));
  return out;
}

BackupHeader Header() {
  BackupHeader h;
  h.hub_name = "hub.example";
  h.created_ms = 1'800'000'000'000;
  h.salt = Bytes(16, std::byte{7});
  h.settings_row = Bytes(5, std::byte{'s'});
  h.root_key_row = Bytes(9, std::byte{'r'});
  h.partitions = 2;
  h.records = 40;
  return h;
}

storage::StoredRecord Record(uint64_t sequence, size_t bytes) {
  storage::StoredRecord r;
  r.sequence = sequence;
  r.time_ms = 1'800'000'000'000 + static_cast<int64_t>(sequence);
  r.payload = Bytes(bytes, std::byte(sequence & 0xFF));
  r.link.fill(std::byte(sequence & 0x7F));
  r.linked = sequence % 2 == 0;
  return r;
}

// A backup of 3 rows and 2 partitions of 20 records of 100 KiB: 3.9 MiB, 4 chunks.
Bytes MakeBackup(const crypto::SecretBytes& key, const BackupHeader& header = Header()) {
  UniqueFd fd = MemFile();
  int raw = ::dup(fd.get());
  auto writer = std::move(BackupWriter::Start(std::move(fd), header, key).value());
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(writer->AddRow("row/" + std::to_string(i), Bytes(10 + i, std::byte{1})).ok());
  }
  for (int p = 0; p < 2; ++p) {
    EXPECT_TRUE(writer->BeginPartition(p, 100, 120).ok());
    for (uint64_t s = 100; s < 120; ++s) EXPECT_TRUE(writer->AddRecord(Record(s, 100 * 1024)).ok());
  }
  EXPECT_TRUE(writer->Finish().ok());
  Bytes out = ReadBack(raw);
  ::close(raw);
  return out;
}

// Reads every entry; the first error, or OK after kEnd.
Status ReadAll(ByteSpan file, const crypto::SecretBytes& key, size_t* entries = nullptr) {
  COFFRE_ASSIGN_OR_RETURN(auto reader, BackupReader::Open(MemFile(file)));
  COFFRE_RETURN_IF_ERROR(reader->Unlock(key));
  size_t n = 0;
  while (true) {
    COFFRE_ASSIGN_OR_RETURN(BackupEntry e, reader->Next());
    ++n;
    if (entries != nullptr) *entries = n;
    if (e.kind == BackupEntry::Kind::kEnd) return Status::Ok();
  }
}

// Where each chunk starts: after the magic, the header length and the header.
std::vector<size_t> ChunkStarts(ByteSpan file) {
  std::vector<size_t> starts;
  size_t at = 8 + 4 + GetU32(file.data() + 8);
  while (at < file.size()) {
    starts.push_back(at);
    at += 4 + GetU32(file.data() + at);
  }
  return starts;
}

TEST(BackupStreamTest, WhatIsWrittenReadsBackInOrderAcrossChunks) {
  crypto::SecretBytes key = Key(std::byte{1});
  Bytes file = MakeBackup(key);
  ASSERT_EQ(ChunkStarts(file).size(), 4u);
  auto reader = std::move(BackupReader::Open(MemFile(file)).value());
  EXPECT_EQ(reader->header().hub_name, "hub.example");
  EXPECT_EQ(reader->header().root_key_row, Header().root_key_row);
  EXPECT_EQ(reader->header().KeyLabel(), "backup/07070707070707070707070707070707");
  EXPECT_THAT(reader->Next().error(), StatusIs(StatusCode::kFailedPrecondition));  // locked
  COFFRE_ASSERT_OK(reader->Unlock(key));
  for (int i = 0; i < 3; ++i) {
    COFFRE_ASSERT_OK_AND_ASSIGN(BackupEntry row, reader->Next());
    ASSERT_EQ(row.kind, BackupEntry::Kind::kRow);
    EXPECT_EQ(row.key, "row/" + std::to_string(i));
    EXPECT_EQ(row.value.size(), 10u + i);
  }
  for (int p = 0; p < 2; ++p) {
    COFFRE_ASSERT_OK_AND_ASSIGN(BackupEntry part, reader->Next());
    ASSERT_EQ(part.kind, BackupEntry::Kind::kPartition);
    EXPECT_EQ(part.partition, p);
    EXPECT_EQ(part.first, 100u);
    EXPECT_EQ(part.end, 120u);
    for (uint64_t s = 100; s < 120; ++s) {
      COFFRE_ASSERT_OK_AND_ASSIGN(BackupEntry rec, reader->Next());
      ASSERT_EQ(rec.kind, BackupEntry::Kind::kRecord);
      storage::StoredRecord want = Record(s, 100 * 1024);
      EXPECT_EQ(rec.record.sequence, s);
      EXPECT_EQ(rec.record.time_ms, want.time_ms);
      EXPECT_EQ(rec.record.payload, want.payload);
      EXPECT_EQ(rec.record.link, want.link);
      EXPECT_EQ(rec.record.linked, want.linked);
    }
  }
  COFFRE_ASSERT_OK_AND_ASSIGN(BackupEntry end, reader->Next());
  EXPECT_EQ(end.kind, BackupEntry::Kind::kEnd);
  EXPECT_EQ(end.rows, 3u);
  EXPECT_EQ(end.records, 40u);
  EXPECT_THAT(reader->Next().error(), StatusIs(StatusCode::kFailedPrecondition));
}

TEST(BackupStreamTest, AnEmptyBackupIsOneChunk) {
  crypto::SecretBytes key = Key(std::byte{1});
  UniqueFd fd = MemFile();
  int raw = ::dup(fd.get());
  auto writer = std::move(BackupWriter::Start(std::move(fd), Header(), key).value());
  COFFRE_ASSERT_OK(writer->Finish());
  Bytes file = ReadBack(raw);
  ::close(raw);
  EXPECT_EQ(ChunkStarts(file).size(), 1u);
  COFFRE_EXPECT_OK(ReadAll(file, key));
}

TEST(BackupStreamTest, AByteFlippedAnywhereIsRefused) {
  crypto::SecretBytes key = Key(std::byte{1});
  Bytes file = MakeBackup(key);
  std::vector<size_t> places = {0, 9, 20, 60};  // magic, header length, header
  for (size_t start : ChunkStarts(file)) {
    places.push_back(start + 1);       // a chunk's length
    places.push_back(start + 4 + 17);  // its ciphertext
  }
  places.push_back(file.size() - 1);   // the last tag
  for (size_t at : places) {
    Bytes bad = file;
    bad[at] ^= std::byte{0x01};
    size_t entries = 0;
    Status s = ReadAll(bad, key, &entries);
    EXPECT_FALSE(s.ok()) << "flipped byte " << at;
    if (!s.ok() && s.code() != StatusCode::kDataLoss) {
      // A header changed into something still parseable but unauthentic fails at chunk 0.
      ADD_FAILURE() << "byte " << at << ": " << s.ToString();
    }
  }
}

TEST(BackupStreamTest, AFileCutShortAnywhereIsRefused) {
  crypto::SecretBytes key = Key(std::byte{1});
  Bytes file = MakeBackup(key);
  std::vector<size_t> cuts = {0, 5, 12, 40};
  for (size_t start : ChunkStarts(file)) {
    cuts.push_back(start);      // at a boundary: every chunk before is whole and authentic
    cuts.push_back(start + 3);  // inside a length
    cuts.push_back(start + 1000);
  }
  cuts.push_back(file.size() - 1);
  for (size_t cut : cuts) {
    Status s = ReadAll(ByteSpan(file.data(), cut), key);
    EXPECT_THAT(s, StatusIs(StatusCode::kDataLoss)) << "cut at " << cut << " of " << file.size();
  }
}

TEST(BackupStreamTest, ChunksMovedDroppedOrRepeatedAreRefused) {
  crypto::SecretBytes key = Key(std::byte{1});
  Bytes file = MakeBackup(key);
  std::vector<size_t> starts = ChunkStarts(file);
  starts.push_back(file.size());
  auto chunk = [&](size_t i) { return Bytes(file.begin() + starts[i], file.begin() + starts[i + 1]); };
  Bytes head(file.begin(), file.begin() + starts[0]);
  auto assemble = [&](std::vector<size_t> order) {
    Bytes out = head;
    for (size_t i : order) {
      Bytes c = chunk(i);
      out.insert(out.end(), c.begin(), c.end());
    }
    return out;
  };
  ASSERT_EQ(starts.size(), 5u);
  COFFRE_EXPECT_OK(ReadAll(assemble({0, 1, 2, 3}), key));
  for (std::vector<size_t> order : std::vector<std::vector<size_t>>{
           {1, 0, 2, 3}, {0, 2, 1, 3}, {0, 1, 3}, {0, 1, 2}, {0, 1, 1, 2, 3}, {0, 1, 2, 3, 3}}) {
    EXPECT_THAT(ReadAll(assemble(order), key), StatusIs(StatusCode::kDataLoss))
        << ::testing::PrintToString(order);
  }
  Bytes trailing = file;
  trailing.push_back(std::byte{0});
  EXPECT_THAT(ReadAll(trailing, key), StatusIs(StatusCode::kDataLoss));
}

TEST(BackupStreamTest, AnotherKeyOrAnotherBackupsHeaderOpensNothing) {
  crypto::SecretBytes key = Key(std::byte{1});
  Bytes file = MakeBackup(key);
  EXPECT_THAT(ReadAll(file, Key(std::byte{2})), StatusIs(StatusCode::kDataLoss));
  // The chunks of one backup behind the header of another (same key, another salt).
  BackupHeader other = Header();
  other.salt = Bytes(16, std::byte{8});
  Bytes second = MakeBackup(key, other);
  size_t first_chunk = ChunkStarts(file)[0];
  size_t second_chunk = ChunkStarts(second)[0];
  Bytes spliced(second.begin(), second.begin() + second_chunk);
  spliced.insert(spliced.end(), file.begin() + first_chunk, file.end());
  EXPECT_THAT(ReadAll(spliced, key), StatusIs(StatusCode::kDataLoss));
}

TEST(BackupStreamTest, WhatIsNotABackupIsSaidSo) {
  EXPECT_THAT(BackupReader::Open(MemFile(AsBytes(std::string_view("hello world, no backup")))).error(),
              StatusIs(StatusCode::kDataLoss, ::testing::HasSubstr("not a Coffre hub backup")));
  std::string huge = std::string("CFBACKUP") + "\xff\xff\xff\xff";
  EXPECT_THAT(BackupReader::Open(MemFile(AsBytes(std::string_view(huge)))).error(),
              StatusIs(StatusCode::kDataLoss));
  auto header_only = [](std::string_view json) {
    Bytes out = Bytes(AsBytes(std::string_view("CFBACKUP")).begin(), AsBytes(std::string_view("CFBACKUP")).end());
    std::byte len[4];
    PutU32(len, static_cast<uint32_t>(json.size()));
    out.insert(out.end(), len, len + 4);
    out.insert(out.end(), AsBytes(json).begin(), AsBytes(json).end());
    return out;
  };
  for (std::string_view json : {R"({"a":)", R"({"format":1,"hub":null,"salt":[],"x":1e999})",
                                R"({"format":2})", R"([1,2])",
                                R"({"format":1,"hub":"h","createdMs":1,"partitions":1,"records":1,"salt":"AA==","settingsRow":"","rootKeyRow":""})"}) {
    EXPECT_FALSE(BackupReader::Open(MemFile(header_only(json))).has_value()) << json;
  }
}

}  // namespace
}  // namespace coffre::hub
