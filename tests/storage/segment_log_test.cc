#include "storage/segment_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include <gtest/gtest.h>
#include <zlib.h>

#include "common/files.h"
#include "fakes/crash_segment_files.h"
#include "file_scan.h"
#include "test_util.h"

namespace coffre::storage {
namespace {

using testing::StatusIs;

constexpr size_t kRecordHeader = 40;  // length, CRC, sequence, time, chain link

Bytes Payload(uint64_t seq, size_t size) {
  Bytes b(size);
  for (size_t i = 0; i < size; ++i) b[i] = std::byte((seq * 31 + i) & 0xff);
  return b;
}

// Appends records [from, to) with sizes that vary, optionally syncing.
void AppendRange(SegmentLog& log, uint64_t from, uint64_t to, size_t base = 100, bool sync = true) {
  std::vector<Bytes> payloads;
  std::vector<LogRecord> records;
  for (uint64_t s = from; s < to; ++s) payloads.push_back(Payload(s, base + s % 57));
  for (uint64_t s = from; s < to; ++s) {
    ChainLink link{};
    link[0] = std::byte(s & 0xff);  // opaque to the log: kept beside the record
    records.push_back({s, static_cast<int64_t>(1000 + s), payloads[s - from], link});
  }
  Status appended = log.Append(records);
  ASSERT_TRUE(appended.ok()) << appended;
  if (sync) {
    ASSERT_TRUE(log.Sync().ok());
  }
}

void ExpectRecords(const SegmentLog& log, uint64_t from, uint64_t to, size_t base = 100) {
  auto got = log.Read(from, to - from, SIZE_MAX);
  ASSERT_TRUE(got.has_value()) << got.status();
  ASSERT_EQ(got->size(), to - from);
  for (uint64_t s = from; s < to; ++s) {
    const StoredRecord& r = (*got)[s - from];
    EXPECT_EQ(r.sequence, s);
    EXPECT_EQ(r.time_ms, static_cast<int64_t>(1000 + s));
    EXPECT_EQ(r.payload, Payload(s, base + s % 57)) << s;
    EXPECT_TRUE(r.linked);
    EXPECT_EQ(r.link[0], std::byte(s & 0xff)) << s;
  }
}

std::filesystem::path OnlySegment(const std::filesystem::path& dir) {
  for (const auto& e : std::filesystem::directory_iterator(dir)) return e.path();
  return {};
}

TEST(SegmentLogTest, AppendsSyncsAndReadsBack) {
  testing::TempDir dir;
  auto log = std::move(SegmentLog::Open(dir.path()).value());
  EXPECT_EQ(log->next_sequence(), 0u);
  AppendRange(*log, 0, 500);
  EXPECT_EQ(log->durable_sequence(), 500u);
  ExpectRecords(*log, 0, 500);
  ExpectRecords(*log, 321, 500);
  EXPECT_EQ(log->Read(10, 5, SIZE_MAX)->size(), 5u);
  EXPECT_EQ(log->Read(10, 100, 300)->size(), 2u);  // ~100-156 bytes each
  EXPECT_EQ(log->Read(10, 100, 1)->size(), 1u);     // at least one record
  EXPECT_TRUE(log->Read(500, 10, SIZE_MAX)->empty());  // a tailing reader waits
  EXPECT_THAT(log->Read(501, 10, SIZE_MAX).status(), StatusIs(StatusCode::kInvalidArgument));
}

TEST(SegmentLogTest, UnsyncedRecordsAreNotReadable) {
  testing::TempDir dir;
  auto log = std::move(SegmentLog::Open(dir.path()).value());
  AppendRange(*log, 0, 10);
  AppendRange(*log, 10, 20, 100, /*sync=*/false);
  EXPECT_EQ(log->next_sequence(), 20u);
  EXPECT_EQ(log->durable_sequence(), 10u);
  EXPECT_EQ(log->Read(0, 100, SIZE_MAX)->size(), 10u);
}

TEST(SegmentLogTest, RefusesGapsAndOversizeRecords) {
  testing::TempDir dir;
  auto log = std::move(SegmentLog::Open(dir.path(), {8192}).value());
  Bytes p(10);
  LogRecord gap{5, 0, p};
  EXPECT_THAT(log->Append({&gap, 1}), StatusIs(StatusCode::kInvalidArgument));
  Bytes big(8192);
  LogRecord huge{0, 0, big};
  EXPECT_THAT(log->Append({&huge, 1}), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_EQ(log->next_sequence(), 0u);
}

TEST(SegmentLogTest, RollsSegmentsAndReopensWhereItLeftOff) {
  testing::TempDir dir;
  {
    auto log = std::move(SegmentLog::Open(dir.path(), {8192}).value());
    for (uint64_t s = 0; s < 400; s += 40) AppendRange(*log, s, s + 40);
    EXPECT_GT(log->segment_count(), 5u);
    ExpectRecords(*log, 0, 400);
  }
  auto log = std::move(SegmentLog::Open(dir.path(), {8192}).value());
  EXPECT_EQ(log->next_sequence(), 400u);
  EXPECT_EQ(log->durable_sequence(), 400u);
  ExpectRecords(*log, 0, 400);
  ExpectRecords(*log, 137, 263);
  AppendRange(*log, 400, 450);
  ExpectRecords(*log, 380, 450);
}

// Every time, probed against a brute-force answer: within a segment (through the sparse
// index), across segments, with repeated times, and never past the durable end.
TEST(SegmentLogTest, SeekTimeFindsTheFirstRecordEnqueuedAtOrAfterATime) {
  for (uint64_t segment_bytes : {uint64_t{8192}, uint64_t{1} << 20}) {
    testing::TempDir dir;
    auto log = std::move(SegmentLog::Open(dir.path(), {segment_bytes}).value());
    auto time_of = [](uint64_t s) { return static_cast<int64_t>(5000 + (s / 3) * 10); };
    std::vector<Bytes> payloads;
    std::vector<LogRecord> records;
    for (uint64_t s = 0; s < 700; ++s) payloads.push_back(Payload(s, 60 + s % 57));
    for (uint64_t s = 0; s < 700; ++s) records.push_back({s, time_of(s), payloads[s]});
    COFFRE_ASSERT_OK(log->Append(std::span(records).first(600)));
    COFFRE_ASSERT_OK(log->Sync());
    COFFRE_ASSERT_OK(log->Append(std::span(records).subspan(600)));  // not durable
    EXPECT_EQ(log->last_time_ms(), time_of(699));
    for (int64_t t = 4990; t <= time_of(699) + 20; t += 5) {
      uint64_t expected = 0;
      while (expected < 600 && time_of(expected) < t) ++expected;
      COFFRE_ASSERT_OK_AND_ASSIGN(uint64_t got, log->SeekTime(t));
      ASSERT_EQ(got, expected) << "time " << t << ", segments of " << segment_bytes;
    }
  }
}

// A power loss can leave any prefix of the unsynced bytes on disk, followed by stale data.
// Reopening keeps every synced record, and never more than was written.
TEST(SegmentLogTest, CrashAtAnyByteKeepsEverySyncedRecord) {
  // 1 MiB segments, not the default 64: each round reads and rewrites the whole file.
  const SegmentLogOptions options{uint64_t{1} << 20};
  for (uint64_t cut : {0u, 1u, 23u, 24u, 25u, 39u, 40u, 41u, 130u, 999u, 2000u, 100000u}) {
    testing::TempDir dir;
    uint64_t synced_end = 0;
    Bytes image;
    {
      auto log = std::move(SegmentLog::Open(dir.path(), options).value());
      AppendRange(*log, 0, 50);
      synced_end = log->durable_sequence();
      AppendRange(*log, 50, 80, 100, /*sync=*/false);
      image = *ReadFile(OnlySegment(dir.path()));
    }
    // What reached the disk: everything synced, then `cut` bytes of the rest, then garbage.
    auto path = OnlySegment(dir.path());
    size_t synced_bytes = 512;
    for (uint64_t s = 0; s < 50; ++s) synced_bytes += kRecordHeader + 100 + s % 57;
    for (size_t i = synced_bytes + cut; i < image.size() && i < synced_bytes + cut + 64; ++i) {
      image[i] = std::byte(0xA5);
    }
    ASSERT_TRUE(WriteFileDurably(path, image).ok());
    auto log = std::move(SegmentLog::Open(dir.path(), options).value());
    EXPECT_GE(log->next_sequence(), synced_end) << "cut " << cut;
    EXPECT_LE(log->next_sequence(), 80u) << "cut " << cut;
    ExpectRecords(*log, 0, log->next_sequence());
  }
}

// After a torn record, intact later records must not come back behind a new record of the same
// length: recovery wipes them.
TEST(SegmentLogTest, RecordsAfterATornOneNeverComeBack) {
  testing::TempDir dir;
  {
    auto log = std::move(SegmentLog::Open(dir.path()).value());
    AppendRange(*log, 0, 20);
  }
  auto path = OnlySegment(dir.path());
  size_t offset_of_10 = 512;
  for (uint64_t s = 0; s < 10; ++s) offset_of_10 += kRecordHeader + 100 + s % 57;
  {
    UniqueFd fd(::open(path.c_str(), O_RDWR));
    std::byte flip{0xff};
    ASSERT_EQ(::pwrite(fd.get(), &flip, 1, static_cast<off_t>(offset_of_10 + 30)), 1);
  }
  {
    auto log = std::move(SegmentLog::Open(dir.path()).value());
    EXPECT_EQ(log->next_sequence(), 10u);
    // A new record 10 of exactly the old record's length.
    AppendRange(*log, 10, 11);
  }
  auto log = std::move(SegmentLog::Open(dir.path()).value());
  EXPECT_EQ(log->next_sequence(), 11u) << "the old record 11 came back";
}

// A segment cut short in the middle of the log (damaged, or rolled back to an older copy) no
// longer stops the log from opening: the missing records are a gap, reported and refused, and
// everything around them reads.
TEST(SegmentLogTest, RecordsMissingBetweenSegmentsAreAGapRefusedToReaders) {
  testing::TempDir dir;
  std::vector<std::filesystem::path> segments;
  {
    auto log = std::move(SegmentLog::Open(dir.path(), {8192}).value());
    AppendRange(*log, 0, 200);
    ASSERT_GE(log->segment_count(), 3u);
  }
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) segments.push_back(e.path());
  std::sort(segments.begin(), segments.end());
  // Flip a byte of the second segment's fourth record: its scan stops there.
  uint64_t second_first = std::stoull(segments[1].filename().string().substr(0, 20));
  uint64_t third_first = std::stoull(segments[2].filename().string().substr(0, 20));
  size_t offset = 512;
  for (uint64_t s = second_first; s < second_first + 3; ++s) offset += kRecordHeader + 100 + s % 57;
  {
    UniqueFd fd(::open(segments[1].c_str(), O_RDWR));
    std::byte flip{0x5a};
    ASSERT_EQ(::pwrite(fd.get(), &flip, 1, static_cast<off_t>(offset + kRecordHeader + 5)), 1);
  }
  auto log = std::move(SegmentLog::Open(dir.path(), {8192}).value());
  ASSERT_EQ(log->gaps().size(), 1u);
  EXPECT_EQ(log->gaps()[0].from, second_first + 3);
  EXPECT_EQ(log->gaps()[0].to, third_first);
  ExpectRecords(*log, 0, second_first + 3);
  ExpectRecords(*log, third_first, 200);
  EXPECT_THAT(log->Read(second_first + 3, 1, SIZE_MAX).status(), StatusIs(StatusCode::kDataLoss));
  // A read that reaches the gap stops before it.
  auto got = log->Read(second_first, 100, SIZE_MAX);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->size(), 3u);
  AppendRange(*log, 200, 210);
  ExpectRecords(*log, third_first, 210);
}

// Resuming later than the records (the caller knows more were acknowledged) keeps what is in
// the active segment as it is, starts a new segment, and reports the records between as a gap.
TEST(SegmentLogTest, ResumingLaterThanTheRecordsLeavesAGapAndKeepsTheOldTail) {
  testing::TempDir dir;
  {
    auto log = std::move(SegmentLog::Open(dir.path()).value());
    AppendRange(*log, 0, 20);
  }
  {
    auto log = std::move(SegmentLog::Open(dir.path()).value());
    EXPECT_THAT(log->ResumeAt(5), StatusIs(StatusCode::kInvalidArgument));
    COFFRE_ASSERT_OK(log->ResumeAt(30));
    EXPECT_EQ(log->next_sequence(), 30u);
    AppendRange(*log, 30, 40);
    ASSERT_EQ(log->gaps().size(), 1u);
    EXPECT_EQ(log->gaps()[0].from, 20u);
    EXPECT_EQ(log->gaps()[0].to, 30u);
  }
  auto log = std::move(SegmentLog::Open(dir.path()).value());
  EXPECT_EQ(log->segment_count(), 2u);
  ASSERT_EQ(log->gaps().size(), 1u);
  EXPECT_EQ(log->gaps()[0].from, 20u);
  ExpectRecords(*log, 0, 20);
  ExpectRecords(*log, 30, 40);
  EXPECT_THAT(log->Read(25, 1, SIZE_MAX).status(), StatusIs(StatusCode::kDataLoss));
}

// A segment of the first format (24-byte record headers, no chain links), as the hub wrote
// before links existed: `records` records of 10 bytes each, from sequence 0.
void WriteFirstFormatSegment(const std::filesystem::path& dir, int records) {
  Bytes image(8192);
  std::memcpy(image.data(), "CFSEG001", 8);
  PutU32(image.data() + 8, 1);
  size_t at = 512;
  for (int s = 0; s < records; ++s) {
    std::byte* h = image.data() + at;
    Bytes payload = Payload(static_cast<uint64_t>(s), 10);
    PutU32(h, 10);
    PutU64(h + 8, static_cast<uint64_t>(s));
    PutU64(h + 16, static_cast<uint64_t>(1000 + s));
    std::memcpy(h + 24, payload.data(), 10);
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(h + 8), 16 + 10);
    PutU32(h + 4, static_cast<uint32_t>(crc));
    at += 24 + 10;
  }
  ASSERT_TRUE(EnsurePrivateDirectory(dir).ok());
  ASSERT_TRUE(WriteFileDurably(dir / "00000000000000000000.seg", image).ok());
}

// Logs written before chain links still read, and new records go to a segment of the new
// format, after them; an empty first-format segment (a partition never written) is replaced.
TEST(SegmentLogTest, FirstFormatSegmentsStillReadAndNewRecordsGoToANewOne) {
  testing::TempDir dir;
  WriteFirstFormatSegment(dir.path() / "old", 2);
  {
    auto log = std::move(SegmentLog::Open(dir.path() / "old", {8192}).value());
    auto got = std::move(log->Read(0, 10, SIZE_MAX).value());
    ASSERT_EQ(got.size(), 2u);
    EXPECT_FALSE(got[1].linked);
    EXPECT_EQ(got[1].payload, Payload(1, 10));
    AppendRange(*log, 2, 5);
    EXPECT_EQ(log->segment_count(), 2u);
  }
  auto log = std::move(SegmentLog::Open(dir.path() / "old", {8192}).value());
  EXPECT_EQ(log->Read(0, 10, SIZE_MAX)->size(), 5u);
  ExpectRecords(*log, 2, 5);
  EXPECT_TRUE(log->gaps().empty());

  WriteFirstFormatSegment(dir.path() / "empty", 0);
  auto empty = std::move(SegmentLog::Open(dir.path() / "empty", {8192}).value());
  EXPECT_EQ(empty->next_sequence(), 0u) << "zeros read as a record";
  AppendRange(*empty, 0, 3);
  EXPECT_EQ(empty->segment_count(), 1u);
  ExpectRecords(*empty, 0, 3);
}

// The zeros after the last record never read as a record, not even at sequence 0 (zlib's crc32
// of no bytes from a null buffer is 0, as a zeroed header's CRC field is).
TEST(SegmentLogTest, AnEmptyLogReopensEmpty) {
  testing::TempDir dir;
  { auto log = std::move(SegmentLog::Open(dir.path()).value()); }
  auto log = std::move(SegmentLog::Open(dir.path()).value());
  EXPECT_EQ(log->next_sequence(), 0u);
  EXPECT_EQ(log->durable_sequence(), 0u);
}

// An fdatasync that fails (EIO) the way Linux fails one: the dirty pages are marked clean
// without reaching the disk, so the next fdatasync succeeds without them. The log writes what
// it appended since its last good sync again before trying, so the records acknowledged after
// the next good sync never sit behind a hole, across a segment roll too, and a power loss then
// keeps them all.
TEST(SegmentLogTest, AfterAFailedSyncTheUnsyncedRecordsAreWrittenAgain) {
  for (bool roll : {false, true}) {
    testing::TempDir dir;
    testing::CrashSegmentFiles files;
    SegmentLogOptions options{roll ? uint64_t{8192} : uint64_t{1} << 20};
    options.files = &files;
    uint64_t acknowledged = 0;
    {
      auto log = std::move(SegmentLog::Open(dir.path(), options).value());
      AppendRange(*log, 0, 20);
      AppendRange(*log, 20, 30, 100, /*sync=*/false);
      files.FailNextSync();
      EXPECT_THAT(log->Sync(), StatusIs(StatusCode::kUnavailable));
      EXPECT_EQ(log->durable_sequence(), 20u);
      AppendRange(*log, 30, 80);  // a good sync (and, with small segments, rolls)
      acknowledged = log->durable_sequence();
    }
    EXPECT_EQ(acknowledged, 80u);
    std::mt19937_64 rng(7);
    files.Crash(rng);
    auto log = std::move(SegmentLog::Open(dir.path(), options).value());
    EXPECT_TRUE(log->gaps().empty()) << "roll " << roll;
    EXPECT_EQ(log->next_sequence(), 80u) << "roll " << roll;
    ExpectRecords(*log, 0, 80);
  }
}

TEST(SegmentLogTest, WholeSegmentsExpireByTimeAndReadsBelowThemFail) {
  testing::TempDir dir;
  auto log = std::move(SegmentLog::Open(dir.path(), {8192}).value());
  for (uint64_t s = 0; s < 400; s += 40) AppendRange(*log, s, s + 40);
  size_t before = log->segment_count();
  uint64_t first_after = log->FirstSequenceAfterExpiry(1000 + 200);
  COFFRE_ASSERT_OK_AND_ASSIGN(size_t removed, log->ExpireBefore(1000 + 200));
  EXPECT_EQ(log->first_sequence(), first_after);
  EXPECT_GT(removed, 0u);
  EXPECT_EQ(log->segment_count(), before - removed);
  EXPECT_LE(log->first_sequence(), 200u);  // nothing newer than the cutoff went
  EXPECT_GT(log->first_sequence(), 0u);
  EXPECT_THAT(log->Read(0, 1, SIZE_MAX).status(), StatusIs(StatusCode::kInvalidArgument));
  ExpectRecords(*log, log->first_sequence(), 400);
  // The active segment never expires.
  COFFRE_ASSERT_OK(log->ExpireBefore(INT64_MAX).status());
  EXPECT_EQ(log->segment_count(), 1u);
  AppendRange(*log, 400, 410);
  ExpectRecords(*log, log->first_sequence(), 410);
}

TEST(SegmentLogTest, SegmentsArePreallocated) {
  testing::TempDir dir;
  auto log = std::move(SegmentLog::Open(dir.path(), {1 << 20}).value());
  AppendRange(*log, 0, 3);
  EXPECT_EQ(std::filesystem::file_size(OnlySegment(dir.path())), uint64_t{1} << 20);
}

}  // namespace
}  // namespace coffre::storage

namespace coffre::storage {
namespace {

TEST(EncryptedSegmentLogTest, RecordsAreUnreadableOnDiskAndReadBackWithTheServiceKey) {
  testing::TempDir dir;
  auto key = std::move(crypto::SecretBytes::Random(32).value());
  Bytes known = ToBytes("KNOWN-SEALED-RECORD-BYTES-0123456789");
  {
    auto log = std::move(SegmentLog::Open(dir.path(), {8192, &key}).value());
    std::vector<LogRecord> records;
    for (uint64_t s = 0; s < 200; ++s) records.push_back({s, 5, known});
    COFFRE_ASSERT_OK(log->Append(records));
    COFFRE_ASSERT_OK(log->Sync());
  }
  EXPECT_THAT(testing::FilesContaining(dir.path(), known), ::testing::IsEmpty());
  auto log = std::move(SegmentLog::Open(dir.path(), {8192, &key}).value());
  EXPECT_EQ(log->next_sequence(), 200u);
  auto got = log->Read(150, 50, SIZE_MAX);
  ASSERT_TRUE(got.has_value());
  ASSERT_EQ(got->size(), 50u);
  EXPECT_EQ((*got)[49].payload, known);
  log.reset();

  auto wrong = std::move(crypto::SecretBytes::Random(32).value());
  EXPECT_THAT(SegmentLog::Open(dir.path(), {8192, &wrong}).status(),
              testing::StatusIs(StatusCode::kPermissionDenied));
  EXPECT_THAT(SegmentLog::Open(dir.path(), {8192, nullptr}).status(),
              testing::StatusIs(StatusCode::kFailedPrecondition));
}

TEST(EncryptedSegmentLogTest, TornTailRecoveryWorksThroughTheCipher) {
  testing::TempDir dir;
  auto key = std::move(crypto::SecretBytes::Random(32).value());
  {
    auto log = std::move(SegmentLog::Open(dir.path(), {SegmentLogOptions{}.segment_bytes, &key}).value());
    AppendRange(*log, 0, 30);
    AppendRange(*log, 30, 40, 100, /*sync=*/false);
  }
  auto path = OnlySegment(dir.path());
  Bytes image = *ReadFile(path);
  size_t offset_of_35 = 512;
  for (uint64_t s = 0; s < 35; ++s) offset_of_35 += kRecordHeader + 100 + s % 57;
  image[offset_of_35 + 40] ^= std::byte{0x10};
  ASSERT_TRUE(WriteFileDurably(path, image).ok());
  auto log = std::move(SegmentLog::Open(dir.path(), {SegmentLogOptions{}.segment_bytes, &key}).value());
  EXPECT_EQ(log->next_sequence(), 35u);
  ExpectRecords(*log, 0, 35);
}

}  // namespace
}  // namespace coffre::storage
