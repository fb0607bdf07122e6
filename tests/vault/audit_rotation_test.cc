// The audit log bounded: rotation into numbered files with the chain going on across them,
// retention that drops the oldest files and records what it dropped, verification and tail
// across files, tampering inside a kept file, and sampling of unauthenticated requests.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>

#include "common/files.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"
#include "vault/audit/audit_log.h"

namespace coffre::vault {
namespace {

using ::testing::HasSubstr;

class AuditRotationTest : public ::testing::Test {
 protected:
  AuditRotationTest() {
    kv_ = std::move(storage::RocksKvStore::Open(dir_.path() / "db").value());
    store_ = std::move(SealedStore::Open(*kv_, std::move(crypto::SecretBytes::Random(32).value()))
                           .value());
  }

  std::filesystem::path base() const { return dir_.path() / "audit.log"; }

  std::unique_ptr<AuditLog> OpenLog(uint64_t keep_files = 1000, uint64_t keep_bytes = 0) {
    AuditLogOptions options;
    options.sync_interval = std::chrono::hours(1);
    options.clock = &clock_;
    options.max_file_bytes = 4096;
    options.keep_files = keep_files;
    options.keep_bytes = keep_bytes;
    options.sampling.per_source = 3;
    options.sampling.interval = std::chrono::seconds(60);
    return std::move(AuditLog::Open(base(), *store_, options).value());
  }

  static AuditEntry Request(int i) {
    AuditEntry e;
    e.principal = "hub";
    e.op = i % 2 == 0 ? "unwrapKey" : "wrapKey";
    e.key = "hub-cmk";
    e.version = "0123456789abcdef0123456789abcdef";
    e.status = 200;
    e.client = "127.0.0.1";
    return e;
  }

  static std::vector<std::string> Lines(const std::filesystem::path& file) {
    std::vector<std::string> lines;
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

  static void WriteLines(const std::filesystem::path& file, const std::vector<std::string>& lines) {
    std::string text;
    for (const auto& l : lines) text += l + "\n";
    COFFRE_ASSERT_OK(WriteFileDurably(file, AsBytes(text)));
  }

  uint64_t FilesOnDisk() const {
    uint64_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir_.path())) {
      std::string name = e.path().filename().string();
      if (name.rfind("audit.log", 0) == 0 && name.find("rejected") == std::string::npos) ++n;
    }
    return n;
  }

  testing::TempDir dir_;
  std::unique_ptr<storage::RocksKvStore> kv_;
  std::unique_ptr<SealedStore> store_;
  ManualClock clock_;
};

TEST_F(AuditRotationTest, FilesRotateAtTheSizeLimitAndTheChainGoesOnAcrossThem) {
  auto log = OpenLog();
  for (int i = 1; i <= 100; ++i) log->Append(Request(i));
  EXPECT_GT(log->files(), 3u);
  AuditVerdict verdict = log->Verify();
  EXPECT_TRUE(verdict.ok) << DescribeVerdict(verdict);
  EXPECT_EQ(verdict.count, 100u);
  EXPECT_EQ(verdict.first, 1u);
  for (uint64_t n = 1; n <= log->files(); ++n) {
    EXPECT_LE(std::filesystem::file_size(AuditFilePath(base(), n)), 4096u) << n;
  }
  // The first entry of file 2 chains from the last MAC of file 1.
  std::vector<std::string> one = Lines(base()), two = Lines(AuditFilePath(base(), 2));
  ASSERT_FALSE(one.empty());
  ASSERT_FALSE(two.empty());
  AuditLineParts last = SplitAuditLine(one.back()).value();
  AuditLineParts first = SplitAuditLine(two.front()).value();
  EXPECT_EQ(first.seq, last.seq + 1);
  crypto::SecretBytes key = std::move(store_->DeriveKey(kAuditKeyLabel).value());
  EXPECT_EQ(ChainMac(key, last.mac, first.body).value(), first.mac);
  log->Close();

  // Reopened, it goes on in the last file and still verifies.
  log = OpenLog();
  EXPECT_EQ(log->damage_at_open(), "");
  log->Append(Request(101));
  EXPECT_EQ(log->count(), 101u);
  EXPECT_TRUE(log->Verify().ok) << DescribeVerdict(log->Verify());
}

TEST_F(AuditRotationTest, RetentionDropsTheOldestFilesAndVerifyReportsTheDroppedRange) {
  auto log = OpenLog(/*keep_files=*/3);
  for (int i = 1; i <= 200; ++i) log->Append(Request(i));
  COFFRE_ASSERT_OK(log->Sync());
  EXPECT_EQ(log->files(), 3u);
  EXPECT_EQ(FilesOnDisk(), 3u);  // the dropped ones are gone once the head no longer lists them
  EXPECT_FALSE(std::filesystem::exists(base()));
  AuditVerdict verdict = log->Verify();
  EXPECT_TRUE(verdict.ok) << DescribeVerdict(verdict);
  EXPECT_GT(verdict.first, 1u);
  EXPECT_EQ(verdict.first - 1 + verdict.count, 200u);
  EXPECT_GT(verdict.dropped_files, 0u);
  EXPECT_GT(verdict.dropped_bytes, 0u);
  EXPECT_THAT(DescribeVerdict(verdict), HasSubstr("dropped by retention"));
  AuditHead head = ReadAuditHead(*store_).value();
  EXPECT_EQ(head.dropped_entries(), verdict.first - 1);
  log->Close();

  log = OpenLog(3);
  for (int i = 201; i <= 260; ++i) log->Append(Request(i));
  verdict = log->Verify();
  EXPECT_TRUE(verdict.ok) << DescribeVerdict(verdict);
  EXPECT_EQ(verdict.first - 1 + verdict.count, 260u);
  // Tail reads across the kept files (about a dozen entries each), in order.
  std::vector<AuditEntry> tail = log->Tail(25).value();
  ASSERT_EQ(tail.size(), 25u);
  for (size_t i = 0; i < tail.size(); ++i) EXPECT_EQ(tail[i].seq, 236 + i);
  COFFRE_ASSERT_OK(log->Sync());
  EXPECT_LT(tail.front().seq, ReadAuditHead(*store_)->files.back().seq);  // from an older file
}

TEST_F(AuditRotationTest, RetentionBySizeKeepsTheFilesUnderTheBound) {
  auto log = OpenLog(/*keep_files=*/1000, /*keep_bytes=*/12 * 1024);
  for (int i = 1; i <= 300; ++i) log->Append(Request(i));
  COFFRE_ASSERT_OK(log->Sync());
  uint64_t total = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_.path())) {
    if (e.path().filename().string().rfind("audit.log", 0) == 0) total += e.file_size();
  }
  EXPECT_LE(total, 12u * 1024);
  EXPECT_TRUE(log->Verify().ok) << DescribeVerdict(log->Verify());
}

TEST_F(AuditRotationTest, AnEditInsideAKeptFileIsDetected) {
  auto log = OpenLog(/*keep_files=*/4);
  for (int i = 1; i <= 200; ++i) log->Append(Request(i));
  log->Close();
  AuditHead head = ReadAuditHead(*store_).value();
  ASSERT_EQ(head.files.size(), 4u);
  std::filesystem::path middle = AuditFilePath(base(), head.files[1].file);
  std::vector<std::string> lines = Lines(middle);
  ASSERT_GT(lines.size(), 3u);
  uint64_t edited = SplitAuditLine(lines[2]).value().seq;
  size_t at = lines[2].find("\"principal\":\"hub\"");
  ASSERT_NE(at, std::string::npos);
  lines[2].replace(at, 17, "\"principal\":\"eve\"");
  WriteLines(middle, lines);

  log = OpenLog(4);
  EXPECT_EQ(log->damage_at_open(), "");  // only the tail is checked at open
  AuditVerdict verdict = log->Verify();
  EXPECT_FALSE(verdict.ok);
  ASSERT_TRUE(verdict.failure);
  EXPECT_EQ(verdict.failure->seq, edited);
  EXPECT_THAT(verdict.failure->reason, HasSubstr("MAC mismatch"));
}

TEST_F(AuditRotationTest, AKeptFileRemovedIsDetected) {
  auto log = OpenLog(/*keep_files=*/4);
  for (int i = 1; i <= 200; ++i) log->Append(Request(i));
  log->Close();
  AuditHead head = ReadAuditHead(*store_).value();
  // The oldest kept file: removing it as if retention had is not retention.
  std::filesystem::remove(AuditFilePath(base(), head.files[0].file));
  log = OpenLog(4);
  AuditVerdict verdict = log->Verify();
  EXPECT_FALSE(verdict.ok);
  ASSERT_TRUE(verdict.failure);
  EXPECT_EQ(verdict.failure->seq, head.files[0].seq + 1);
  EXPECT_THAT(verdict.failure->reason, HasSubstr("is missing"));
}

TEST_F(AuditRotationTest, AFileWrittenAfterTheLastSyncIsAdoptedAtOpen) {
  auto log = OpenLog();
  for (int i = 1; i <= 10; ++i) log->Append(Request(i));
  COFFRE_ASSERT_OK(log->Sync());
  nlohmann::json synced = store_->GetJson("audit/head").value();
  uint64_t files = log->files();
  for (int i = 11; i <= 60; ++i) log->Append(Request(i));
  ASSERT_GT(log->files(), files);
  log->Close();
  // As if the process died before its next sync: the head is in an earlier file.
  COFFRE_ASSERT_OK(store_->PutJson("audit/head", synced));

  log = OpenLog();
  EXPECT_EQ(log->damage_at_open(), "");
  EXPECT_EQ(log->count(), 60u);
  log->Append(Request(61));
  EXPECT_TRUE(log->Verify().ok) << DescribeVerdict(log->Verify());
}

TEST_F(AuditRotationTest, AHeadFromBeforeRotationStillOpens) {
  auto log = OpenLog();
  for (int i = 1; i <= 5; ++i) log->Append(Request(i));
  log->Close();
  // The head as vaults before rotation sealed it: no file list.
  nlohmann::json head = store_->GetJson("audit/head").value();
  head.erase("files");
  head.erase("droppedBytes");
  COFFRE_ASSERT_OK(store_->PutJson("audit/head", head));
  log = OpenLog();
  EXPECT_EQ(log->damage_at_open(), "");
  for (int i = 6; i <= 100; ++i) log->Append(Request(i));
  EXPECT_TRUE(log->Verify().ok) << DescribeVerdict(log->Verify());
  EXPECT_EQ(log->count(), 100u);
}

TEST_F(AuditRotationTest, UnauthenticatedRequestsAreSampledAndSummarized) {
  auto log = OpenLog();
  AuditEntry refused;
  refused.op = "listKeys";
  refused.status = 401;
  refused.code = "Unauthorized";
  for (int i = 0; i < 1000; ++i) {
    refused.client = i % 2 == 0 ? "10.0.0.1" : "10.0.0.2";
    log->AppendUnauthenticated(refused);
  }
  EXPECT_EQ(log->count(), 6u);  // 3 per address
  // The interval ends: one summary per address, with what it did not write one by one.
  clock_.Advance(std::chrono::seconds(61));
  log->AppendUnauthenticated(refused);  // opens the next interval
  log->Close();
  log = OpenLog();
  std::vector<AuditEntry> all = log->Tail(100).value();
  uint64_t summarized = 0;
  int summaries = 0;
  for (const AuditEntry& e : all) {
    if (e.op != "unauthenticatedRequests") continue;
    ++summaries;
    summarized += e.count;
    EXPECT_EQ(e.principal, kVaultPrincipal);
  }
  EXPECT_EQ(summaries, 2);
  EXPECT_EQ(summarized, 994u);
  EXPECT_TRUE(log->Verify().ok);
}

TEST(AuditSamplerTest, ManyAddressesShareOneCountPastTheLimit) {
  AuditSampler sampler({/*per_source=*/1, std::chrono::seconds(10), /*max_sources=*/4});
  int admitted = 0;
  for (int i = 0; i < 100; ++i) admitted += sampler.Admit("10.0.0." + std::to_string(i), 0);
  EXPECT_EQ(admitted, 5);  // 4 addresses and the "(other)" bucket, one each
  EXPECT_TRUE(sampler.Drain(5'000).empty());
  std::vector<AuditSampler::Summary> summaries = sampler.Drain(10'000);
  ASSERT_EQ(summaries.size(), 1u);
  EXPECT_EQ(summaries[0].source, kOtherSources);
  EXPECT_EQ(summaries[0].suppressed, 95u);
}

}  // namespace
}  // namespace coffre::vault
