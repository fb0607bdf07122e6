// Tampering with a partition's stored telemetry, one way at a time, while the hub is stopped:
// each is found at start, reported with the partition and records it touches, and refused to
// readers, while the records around it and new ones are served.

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>

#include "common/files.h"
#include "fakes/fake_key_provider.h"
#include "hub/telemetry_messages.h"
#include "hub/telemetry_store.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"

namespace coffre::hub {
namespace {

using testing::FakeKeyProvider;
using testing::StatusIs;

constexpr uint64_t kSegmentBytes = 16 * 1024;

TelemetryMessage Message(const std::string& device, int n) {
  return ::coffre::testing::NumberedMessage(device, n);
}

// The disk, except that while `full` no new segment can be made: its preallocation asks for a
// petabyte, which the filesystem refuses as a full one would (PosixSegmentFiles cleans up); and
// while `failing_reads` names a partition, reads of its files fail with EIO, as a bad sector's.
class FillableFiles : public storage::SegmentFiles {
 public:
  std::atomic<bool> full{false};
  std::atomic<int> failing_reads{-1};
  Result<UniqueFd> OpenExisting(const std::filesystem::path& path) override { return disk_.OpenExisting(path); }
  Result<UniqueFd> Create(const std::filesystem::path& path, uint64_t size) override {
    return disk_.Create(path, full ? uint64_t{1} << 50 : size);
  }
  Status Write(int fd, ByteSpan data, uint64_t offset, const std::filesystem::path& path) override {
    return disk_.Write(fd, data, offset, path);
  }
  Status Read(int fd, MutableByteSpan out, uint64_t offset, const std::filesystem::path& path) override {
    int p = failing_reads;
    if (p >= 0 && path.parent_path().filename() == std::to_string(p)) {
      return ErrnoStatus("read " + path.string(), EIO);
    }
    return disk_.Read(fd, out, offset, path);
  }
  Status Sync(int fd, const std::filesystem::path& path, bool metadata) override {
    return disk_.Sync(fd, path, metadata);
  }
  Status Remove(const std::filesystem::path& path) override { return disk_.Remove(path); }
  Status SyncDirectory(const std::filesystem::path& dir) override { return disk_.SyncDirectory(dir); }

 private:
  storage::SegmentFiles& disk_ = storage::PosixSegmentFiles();
};

class TelemetryIntegrityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    service_key_ = std::move(crypto::SecretBytes::Random(32).value());
    Open();
    a_ = store_->PartitionOf("dev-a");
    // Another device on another partition.
    for (int i = 0; b_ < 0 || b_ == a_; ++i) {
      other_ = "dev-b" + std::to_string(i);
      b_ = store_->PartitionOf(other_);
    }
  }
  void Open() {
    store_.reset();
    keys_.reset();
    kv_.reset();
    kv_ = std::move(storage::RocksKvStore::Open(dir_.path() / "meta", {nullptr, &service_key_}).value());
    keys_ = std::move(HubKeys::Open(*kv_, provider_).value());
    TelemetryStoreOptions options;
    options.hub_name = "localhost";
    options.log.segment_bytes = kSegmentBytes;
    options.log.service_key = &service_key_;
    options.log.files = &files_;
    auto store = TelemetryStore::Open(dir_.path() / "telemetry", *keys_, *kv_, options);
    ASSERT_TRUE(store.has_value()) << store.status();
    store_ = std::move(*store);
  }
  void Send(const std::string& device, int from, int to) {
    int p = store_->PartitionOf(device);
    for (int n = from; n < to; n += 10) {  // batches of 10, one commit each
      std::vector<TelemetryMessage> batch;
      for (int k = n; k < std::min(to, n + 10); ++k) batch.push_back(Message(device, k));
      COFFRE_ASSERT_OK(store_->Append(p, batch).status());
      COFFRE_ASSERT_OK(store_->Commit(p));
    }
  }
  // Reads the partition from `from` as a reader would, page by page, until an error or the end.
  std::vector<uint64_t> ReadAll(int p, uint64_t from, Status* error = nullptr) {
    std::vector<uint64_t> got;
    while (from < store_->end_sequence(p)) {
      auto page = store_->Read(p, from, 7, SIZE_MAX);
      if (!page.has_value()) {
        if (error) *error = page.error();
        break;
      }
      for (const auto& m : *page) got.push_back(m.sequence);
      from = got.empty() ? from : got.back() + 1;
      if (page->empty()) break;
    }
    return got;
  }
  std::filesystem::path PartitionDir(int p) { return dir_.path() / "telemetry" / std::to_string(p); }
  std::vector<std::filesystem::path> Segments(int p) {
    std::vector<std::filesystem::path> out;
    for (const auto& e : std::filesystem::directory_iterator(PartitionDir(p))) out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
  }
  storage::SegmentLogOptions LogOptions() { return {kSegmentBytes, &service_key_}; }
  // The partition's records as stored (an attacker holding the service key sees this much).
  std::vector<storage::StoredRecord> Stored(int p) {
    auto log = std::move(storage::SegmentLog::Open(PartitionDir(p), LogOptions()).value());
    return std::move(log->Read(log->first_sequence(), SIZE_MAX, SIZE_MAX).value());
  }
  // Rewrites the partition's log with these records, as they are.
  void Rewrite(int p, const std::vector<storage::StoredRecord>& records) {
    std::filesystem::remove_all(PartitionDir(p));
    auto log = std::move(storage::SegmentLog::Open(PartitionDir(p), LogOptions()).value());
    std::vector<storage::LogRecord> out;
    for (const auto& r : records) out.push_back({r.sequence, r.time_ms, r.payload, r.link});
    COFFRE_ASSERT_OK(log->Append(out));
    COFFRE_ASSERT_OK(log->Sync());
  }
  std::vector<IntegrityBreak> Breaks(int p) { return store_->Breaks(p).value(); }
  // Appends dev-a's message `n` without committing it, then loses it as a power loss would, and
  // returns it as it was stored: sealed for its place, never acknowledged. The store reopens.
  storage::StoredRecord LoseNext(int n) {
    EXPECT_TRUE(store_->Append(a_, std::vector<TelemetryMessage>{Message("dev-a", n)}).has_value());
    store_.reset();
    std::vector<storage::StoredRecord> records = Stored(a_);
    storage::StoredRecord lost = records.back();
    records.pop_back();
    Rewrite(a_, records);
    Open();
    return lost;
  }
  void ExpectVerifies(int p) {
    COFFRE_ASSERT_OK_AND_ASSIGN(PartitionVerification v, store_->Verify(p));
    EXPECT_TRUE(v.breaks.empty()) << v.breaks.front().what;
    EXPECT_TRUE(v.anchored);
    EXPECT_EQ(v.records_checked, v.end - v.first);
  }
  static std::vector<uint64_t> Seq(uint64_t from, uint64_t to) {
    std::vector<uint64_t> out;
    for (uint64_t s = from; s < to; ++s) out.push_back(s);
    return out;
  }

  testing::TempDir dir_;
  FillableFiles files_;
  FakeKeyProvider provider_;
  crypto::SecretBytes service_key_;
  std::unique_ptr<storage::RocksKvStore> kv_;
  std::unique_ptr<HubKeys> keys_;
  std::unique_ptr<TelemetryStore> store_;
  int a_ = -1, b_ = -1;
  std::string other_;
};

TEST_F(TelemetryIntegrityTest, AnUntouchedStoreVerifiesAcrossRestartsAndSegments) {
  Send("dev-a", 0, 300);
  Send(other_, 0, 20);
  Open();
  Send("dev-a", 300, 320);
  ASSERT_GT(Segments(a_).size(), 2u);
  Open();
  for (int p = 0; p < store_->partitions(); ++p) {
    EXPECT_TRUE(Breaks(p).empty()) << p;
    COFFRE_ASSERT_OK_AND_ASSIGN(PartitionVerification v, store_->Verify(p));
    EXPECT_TRUE(v.breaks.empty()) << p;
  }
  ExpectVerifies(a_);
  EXPECT_EQ(ReadAll(a_, 0), Seq(0, 320));
}

// The end of the log cut off (a truncated file, or the active segment put back from an older
// copy): the missing records are named from the sealed head, and new ones continue after them.
TEST_F(TelemetryIntegrityTest, ATruncatedLogIsFoundWithTheRecordsItLost) {
  Send("dev-a", 0, 40);
  std::filesystem::path active = Segments(a_).back();
  Bytes older = *ReadFile(active);  // the segment as it was with 40 records
  Send("dev-a", 40, 60);
  store_.reset();
  ASSERT_TRUE(WriteFileDurably(active, older).ok());  // rolled back
  Open();
  std::vector<IntegrityBreak> breaks = Breaks(a_);
  ASSERT_EQ(breaks.size(), 1u);
  EXPECT_EQ(breaks[0].from, 40u);
  EXPECT_EQ(breaks[0].to, 60u);
  EXPECT_NE(breaks[0].what.find("missing"), std::string::npos) << breaks[0].what;
  EXPECT_EQ(ReadAll(a_, 0), Seq(0, 40));
  EXPECT_THAT(store_->Read(a_, 45, 1, SIZE_MAX).status(), StatusIs(StatusCode::kDataLoss));
  // New records take the sequences after the lost ones, never theirs.
  Send("dev-a", 60, 70);
  EXPECT_EQ(ReadAll(a_, 60), Seq(60, 70));
  Open();  // the break outlives a restart
  breaks = Breaks(a_);
  ASSERT_FALSE(breaks.empty());
  EXPECT_EQ(breaks[0].from, 40u);
  EXPECT_EQ(breaks[0].to, 60u);
  EXPECT_EQ(ReadAll(a_, 60), Seq(60, 70));
  COFFRE_ASSERT_OK_AND_ASSIGN(PartitionVerification v, store_->Verify(a_));
  ASSERT_EQ(v.breaks.size(), 1u);
  EXPECT_EQ(v.records_checked, 50u);
  EXPECT_TRUE(store_->Verify(b_)->breaks.empty());  // other partitions are untouched
}

// A flipped byte in the active segment used to look like a crash's torn tail and be wiped. With
// the head, it is a break: the record and what follows are kept on disk, as evidence.
TEST_F(TelemetryIntegrityTest, AFlippedByteInTheActiveSegmentIsABreakNotACrashTail) {
  Send("dev-a", 0, 30);
  std::filesystem::path active = Segments(a_).back();
  store_.reset();
  Bytes image = *ReadFile(active);
  image[image.size() / 2 > 2000 ? 2000 : 700] ^= std::byte{0x01};
  ASSERT_TRUE(WriteFileDurably(active, image).ok());
  Open();
  std::vector<IntegrityBreak> breaks = Breaks(a_);
  ASSERT_EQ(breaks.size(), 1u);
  EXPECT_GT(breaks[0].from, 0u);
  EXPECT_EQ(breaks[0].to, 30u);
  EXPECT_EQ(ReadAll(a_, 0), Seq(0, breaks[0].from));
  Send("dev-a", 30, 35);
  Bytes after = *ReadFile(active);
  EXPECT_EQ(after, image) << "the damaged segment was rewritten";
}

// Records removed from the start, beyond what retention removed, are found from the head's start.
TEST_F(TelemetryIntegrityTest, SegmentsRemovedBeforeRetentionAreFound) {
  Send("dev-a", 0, 300);
  std::vector<std::filesystem::path> segments = Segments(a_);
  ASSERT_GT(segments.size(), 2u);
  uint64_t second = std::stoull(segments[1].filename().string().substr(0, 20));
  store_.reset();
  std::filesystem::remove(segments[0]);
  Open();
  std::vector<IntegrityBreak> breaks = Breaks(a_);
  ASSERT_EQ(breaks.size(), 1u);
  EXPECT_EQ(breaks[0].from, 0u);
  EXPECT_EQ(breaks[0].to, second);
  EXPECT_EQ(ReadAll(a_, second), Seq(second, 300));
}

// A segment from the middle removed: a gap between two segments.
TEST_F(TelemetryIntegrityTest, ASegmentRemovedFromTheMiddleIsAGap) {
  Send("dev-a", 0, 300);
  std::vector<std::filesystem::path> segments = Segments(a_);
  ASSERT_GT(segments.size(), 2u);
  uint64_t second = std::stoull(segments[1].filename().string().substr(0, 20));
  uint64_t third = std::stoull(segments[2].filename().string().substr(0, 20));
  store_.reset();
  std::filesystem::remove(segments[1]);
  Open();
  std::vector<IntegrityBreak> breaks = Breaks(a_);
  ASSERT_EQ(breaks.size(), 1u);
  EXPECT_EQ(breaks[0].from, second);
  EXPECT_EQ(breaks[0].to, third);
  Status refused;
  EXPECT_EQ(ReadAll(a_, 0, &refused), Seq(0, second));
  EXPECT_THAT(refused, StatusIs(StatusCode::kDataLoss));
  EXPECT_NE(refused.message().find("records " + std::to_string(second) + ".."), std::string::npos)
      << refused.message();
  EXPECT_EQ(ReadAll(a_, third), Seq(third, 300));
}

// The whole partition directory deleted: everything the head counts is missing.
TEST_F(TelemetryIntegrityTest, ADeletedPartitionIsMissingWhollyAndStartsAfterIt) {
  Send("dev-a", 0, 50);
  store_.reset();
  std::filesystem::remove_all(PartitionDir(a_));
  Open();
  std::vector<IntegrityBreak> breaks = Breaks(a_);
  ASSERT_EQ(breaks.size(), 1u);
  EXPECT_EQ(breaks[0].from, 0u);
  EXPECT_EQ(breaks[0].to, 50u);
  Send("dev-a", 50, 55);
  EXPECT_EQ(ReadAll(a_, 50), Seq(50, 55));
}

// Two records swapped (each rewritten with the other's sequence number): the first one fails to
// open where it now stands.
TEST_F(TelemetryIntegrityTest, ReorderedRecordsDoNotOpenWhereTheyNowStand) {
  Send("dev-a", 0, 20);
  store_.reset();
  std::vector<storage::StoredRecord> records = Stored(a_);
  std::swap(records[5].payload, records[6].payload);
  std::swap(records[5].link, records[6].link);
  Rewrite(a_, records);
  Open();
  Status refused;
  EXPECT_EQ(ReadAll(a_, 0, &refused), Seq(0, 5));
  EXPECT_THAT(refused, StatusIs(StatusCode::kDataLoss));
  EXPECT_NE(refused.message().find("/5 could not be opened"), std::string::npos) << refused.message();
  COFFRE_ASSERT_OK_AND_ASSIGN(PartitionVerification v, store_->Verify(a_));
  ASSERT_EQ(v.breaks.size(), 2u);
  EXPECT_EQ(v.breaks[0].from, 5u);
  EXPECT_EQ(v.breaks[1].from, 6u);
  EXPECT_EQ(v.records_checked, 18u);
}

// A record of another partition put in at the same sequence, with its link: it does not open.
TEST_F(TelemetryIntegrityTest, ARecordSplicedFromAnotherPartitionDoesNotOpen) {
  Send("dev-a", 0, 20);
  Send(other_, 0, 20);
  store_.reset();
  std::vector<storage::StoredRecord> mine = Stored(a_);
  std::vector<storage::StoredRecord> theirs = Stored(b_);
  mine[7] = theirs[7];
  Rewrite(a_, mine);
  Open();
  Status refused;
  EXPECT_EQ(ReadAll(a_, 0, &refused), Seq(0, 7));
  EXPECT_NE(refused.message().find("/7 could not be opened"), std::string::npos) << refused.message();
  COFFRE_ASSERT_OK_AND_ASSIGN(PartitionVerification v, store_->Verify(a_));
  ASSERT_EQ(v.breaks.size(), 1u);
  EXPECT_EQ(v.breaks[0].from, 7u);
  EXPECT_EQ(v.breaks[0].to, 8u);
  EXPECT_EQ(v.records_checked, 19u);
}

// The one substitution the seals alone cannot see: a record never acknowledged (lost in a crash,
// its sequence written again after it) put back in place of the one that was. It opens, since
// it was sealed for that place and link; the chain shows the break at the record after it, and,
// when it is the last one, the sealed head does.
// Appends record `n` of dev-a without committing it, then loses it as a crash would, and returns
// it as it was stored: sealed for its place, never acknowledged.
// The one substitution the seals alone cannot see: a record never acknowledged (lost in a crash,
// its sequence written again after it) put back in place of the one that was. It opens, since
// it was sealed for that place and link; the chain shows the break at the record after it.
TEST_F(TelemetryIntegrityTest, AnOlderCopyOfARecordPutBackBreaksTheChainAfterIt) {
  Send("dev-a", 0, 10);
  storage::StoredRecord lost = LoseNext(1000);
  Send("dev-a", 10, 20);  // record 10 again, acknowledged this time
  EXPECT_EQ(ReadAll(a_, 0), Seq(0, 20));
  store_.reset();
  std::vector<storage::StoredRecord> records = Stored(a_);
  records[10] = lost;  // the unacknowledged copy put back
  Rewrite(a_, records);
  Open();
  // Both open where they stand; which one is the impostor the chain alone cannot say, so
  // neither is served, and the records after them are.
  Status refused;
  EXPECT_EQ(ReadAll(a_, 0, &refused), Seq(0, 10));
  EXPECT_NE(refused.message().find("records 10..11: record 11 does not follow record 10"),
            std::string::npos)
      << refused.message();
  EXPECT_EQ(ReadAll(a_, 12), Seq(12, 20));
  COFFRE_ASSERT_OK_AND_ASSIGN(PartitionVerification v, store_->Verify(a_));
  ASSERT_EQ(v.breaks.size(), 1u);
  EXPECT_EQ(v.breaks[0].from, 10u);
  EXPECT_EQ(v.breaks[0].to, 12u);
  EXPECT_EQ(v.records_checked, 20u);
}

// The same, when the record put back is the last one: the sealed head shows it.
TEST_F(TelemetryIntegrityTest, AnOlderCopyOfTheLastRecordPutBackMissesTheSealedHead) {
  Send("dev-a", 0, 10);
  storage::StoredRecord lost = LoseNext(1000);
  Send("dev-a", 10, 11);
  store_.reset();
  std::vector<storage::StoredRecord> records = Stored(a_);
  records[10] = lost;
  Rewrite(a_, records);
  Open();
  std::vector<IntegrityBreak> breaks = Breaks(a_);
  ASSERT_EQ(breaks.size(), 1u);
  EXPECT_EQ(breaks[0].from, 10u);
  EXPECT_EQ(breaks[0].to, 11u);
  EXPECT_NE(breaks[0].what.find("replaced"), std::string::npos) << breaks[0].what;
  EXPECT_EQ(ReadAll(a_, 0), Seq(0, 10));
  // Writing goes on; the break is kept in the head, and still refused after a restart.
  Send("dev-a", 11, 13);
  Open();
  breaks = Breaks(a_);
  ASSERT_FALSE(breaks.empty());
  EXPECT_EQ(breaks[0].from, 10u);
  EXPECT_THAT(store_->Read(a_, 10, 1, SIZE_MAX).status(), StatusIs(StatusCode::kDataLoss));
  EXPECT_EQ(ReadAll(a_, 11), Seq(11, 13));
  COFFRE_ASSERT_OK_AND_ASSIGN(PartitionVerification v, store_->Verify(a_));
  ASSERT_FALSE(v.breaks.empty());
  EXPECT_EQ(v.breaks[0].from, 10u);
}

// A batch that needs a new segment when none can be made fails, after the records that fit in
// the old one were written. Those stay (durable at the next commit, never acknowledged), the
// chain goes on from the last one written, and writing resumes once there is space: every
// record reads back and the partition verifies.
TEST_F(TelemetryIntegrityTest, ABatchCutShortByAFullDiskKeepsTheChainAndWritingResumes) {
  Send("dev-a", 0, 10);
  files_.full = true;
  Status refused;
  for (int n = 10; n < 5000 && refused.ok(); n += 10) {
    std::vector<TelemetryMessage> batch;
    for (int k = n; k < n + 10; ++k) batch.push_back(Message("dev-a", k));
    auto appended = store_->Append(a_, batch);
    if (!appended.has_value()) {
      refused = appended.error();
    } else {
      COFFRE_ASSERT_OK(store_->Commit(a_));
    }
  }
  ASSERT_FALSE(refused.ok()) << "the segment never filled";
  EXPECT_NE(refused.message().find("preallocate"), std::string::npos) << refused.message();
  files_.full = false;
  Send("dev-a", 5000, 5020);
  uint64_t end = store_->end_sequence(a_);
  EXPECT_EQ(ReadAll(a_, 0), Seq(0, end));
  ExpectVerifies(a_);
  EXPECT_EQ(Segments(a_).size(), 2u) << "a segment file was left behind by the failed start";
  Open();
  ExpectVerifies(a_);
  EXPECT_EQ(ReadAll(a_, 0), Seq(0, end));
}

// A read that fails (EIO: a bad sector) is that read's error: the reader gets it with its cause
// (UNAVAILABLE, as every EIO: to be asked again), the other partitions serve on, nothing is
// recorded as a break, and once the disk reads again everything is served and verifies.
TEST_F(TelemetryIntegrityTest, AFailedReadIsAnErrorNotABreakAndTheOtherPartitionsServe) {
  Send("dev-a", 0, 30);
  Send(other_, 0, 30);
  files_.failing_reads = a_;
  auto failed = store_->Read(a_, 0, 100, SIZE_MAX);
  ASSERT_FALSE(failed.has_value());
  EXPECT_THAT(failed.error(), StatusIs(StatusCode::kUnavailable, ::testing::HasSubstr("Input/output error")));
  EXPECT_EQ(ReadAll(b_, 0).size(), 30u);
  EXPECT_TRUE(Breaks(a_).empty());
  Send("dev-a", 30, 40);  // writing goes on: appends do not read
  files_.failing_reads = -1;
  EXPECT_EQ(ReadAll(a_, 0), Seq(0, 40));
  ExpectVerifies(a_);
  ExpectVerifies(b_);
}

// The head's own row replaced by another partition's: it does not open, and nothing of the
// partition can be vouched for. Removed: every partition gets its head before its first
// record, so that is a break too. Either way writing goes on, and the break is kept.
TEST_F(TelemetryIntegrityTest, AMovedOrMissingHeadMakesThePartitionUnverifiable) {
  Send("dev-a", 0, 10);
  Send(other_, 0, 10);
  store_.reset();
  Bytes their_head = kv_->Get("telemetry-head/" + std::to_string(b_)).value();
  COFFRE_ASSERT_OK(kv_->Put("telemetry-head/" + std::to_string(a_), their_head, true));
  Open();
  EXPECT_THAT(store_->Read(a_, 0, 1, SIZE_MAX).status(), StatusIs(StatusCode::kDataLoss));
  ASSERT_EQ(Breaks(a_).size(), 1u);
  EXPECT_NE(Breaks(a_)[0].what.find("unverifiable"), std::string::npos) << Breaks(a_)[0].what;

  store_.reset();
  COFFRE_ASSERT_OK(kv_->Delete("telemetry-head/" + std::to_string(a_), true));
  Open();
  std::vector<IntegrityBreak> breaks = Breaks(a_);
  ASSERT_EQ(breaks.size(), 1u);
  EXPECT_EQ(breaks[0].from, 0u);
  EXPECT_EQ(breaks[0].to, 10u);
  EXPECT_NE(breaks[0].what.find("head is missing"), std::string::npos) << breaks[0].what;
  EXPECT_THAT(store_->Read(a_, 3, 1, SIZE_MAX).status(), StatusIs(StatusCode::kDataLoss));
  Send("dev-a", 10, 12);
  EXPECT_EQ(ReadAll(a_, 10), Seq(10, 12));
  Open();  // kept in the new head
  ASSERT_EQ(Breaks(a_).size(), 1u);
  EXPECT_EQ(Breaks(a_)[0].to, 10u);
  EXPECT_EQ(ReadAll(a_, 10), Seq(10, 12));
  COFFRE_ASSERT_OK_AND_ASSIGN(PartitionVerification v, store_->Verify(a_));
  EXPECT_TRUE(v.anchored);
  EXPECT_EQ(v.breaks.size(), 1u);
}

// Heads of one partition written by two hub nodes: merged, neither takes back what the
// other advanced (its end and link, its start), and both nodes' breaks are kept.
TEST(MergeHeadsTest, KeepsTheLaterEndWithItsLinkTheLaterStartAndBothBreaks) {
  TelemetryHead a, b;
  a.first = 10;
  a.end = 500;
  a.link[0] = std::byte{0xaa};
  a.breaks = {{5, 12, "a's, partly expired"}, {100, 101, "both"}};
  b.first = 20;
  b.end = 400;
  b.link[0] = std::byte{0xbb};
  b.breaks = {{100, 101, "both"}, {300, 310, "b's"}, {15, 18, "expired"}};
  for (const auto& [stored, mine] : {std::pair{a, b}, std::pair{b, a}}) {
    TelemetryHead merged = MergeHeads(stored, mine);
    EXPECT_EQ(merged.end, 500u);
    EXPECT_EQ(merged.link[0], std::byte{0xaa});
    EXPECT_EQ(merged.first, 20u);
    ASSERT_EQ(merged.breaks.size(), 2u);
    EXPECT_EQ(merged.breaks[0].what, "both");
    EXPECT_EQ(merged.breaks[1].what, "b's");
  }
}

}  // namespace
}  // namespace coffre::hub
