#include "vault/audit/audit_log.h"

#include <fcntl.h>
#include <openssl/sha.h>

#include <fstream>
#include <gtest/gtest.h>

#include "common/files.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"

namespace coffre::vault {
namespace {

using ::testing::HasSubstr;

constexpr int kEntries = 10;

class AuditLogTest : public ::testing::Test {
 protected:
  AuditLogTest() {
    kv_ = std::move(storage::RocksKvStore::Open(dir_.path() / "db").value());
    store_ = std::move(SealedStore::Open(*kv_, std::move(crypto::SecretBytes::Random(32).value()))
                           .value());
  }

  std::filesystem::path path() const { return dir_.path() / "audit.log"; }

  // The background sync never runs on its own in these tests: they say when to sync.
  std::unique_ptr<AuditLog> OpenLog() {
    AuditLogOptions options;
    options.sync_interval = std::chrono::hours(1);
    options.clock = &clock_;
    return std::move(AuditLog::Open(path(), *store_, options).value());
  }

  static AuditEntry Request(int i) {
    AuditEntry e;
    e.principal = i % 3 == 0 ? "" : "hub";
    e.op = i % 2 == 0 ? "unwrapKey" : "wrapKey";
    e.key = "hub-cmk";
    e.version = "0123456789abcdef0123456789abcdef";
    e.status = i % 3 == 0 ? 401 : 200;
    e.code = i % 3 == 0 ? "Unauthorized" : "";
    e.client = "127.0.0.1";
    return e;
  }

  // A closed log of kEntries entries, its head sealed.
  void WriteCleanLog() {
    auto log = OpenLog();
    for (int i = 1; i <= kEntries; ++i) log->Append(Request(i));
    log->Close();
  }

  crypto::SecretBytes Key() { return std::move(store_->DeriveKey(kAuditKeyLabel).value()); }

  // The file as it stands against the sealed head, with the vault's key: what the vault checks.
  AuditVerdict VerifyFile() {
    UniqueFd fd(::open(path().c_str(), O_RDONLY | O_CLOEXEC));
    EXPECT_TRUE(fd);
    AuditPosition head = ReadAuditHead(*store_).value().end;
    uint64_t size = std::filesystem::file_size(path());
    return VerifyAuditLog(fd.get(), Key(), head, size);
  }

  std::vector<std::string> Lines() {
    std::vector<std::string> lines;
    std::ifstream in(path());
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

  void WriteLines(const std::vector<std::string>& lines) {
    std::string text;
    for (const auto& l : lines) text += l + "\n";
    COFFRE_ASSERT_OK(WriteFileDurably(path(), AsBytes(text)));
  }

  void DropLastLines(size_t n) {
    std::vector<std::string> lines = Lines();
    lines.resize(lines.size() - n);
    WriteLines(lines);
  }

  // What a forger without the key does after editing line `from` (0-based): recompute every
  // MAC from there with `mac_of(prev, body)`, so the chain is consistent in itself.
  template <typename MacFn>
  static void Rechain(std::vector<std::string>& lines, size_t from, MacFn mac_of) {
    AuditMac prev{};
    if (from > 0) prev = SplitAuditLine(lines[from - 1]).value().mac;
    for (size_t i = from; i < lines.size(); ++i) {
      std::string body(SplitAuditLine(lines[i]).value().body);
      prev = mac_of(prev, body);
      lines[i] = AuditLine(body, prev);
    }
  }

  static void Replace(std::string& line, const std::string& from, const std::string& to) {
    size_t at = line.find(from);
    ASSERT_NE(at, std::string::npos) << line;
    line.replace(at, from.size(), to);
  }

  testing::TempDir dir_;
  std::unique_ptr<storage::RocksKvStore> kv_;
  std::unique_ptr<SealedStore> store_;
  // Each reading a second after the last: entries a second apart.
  class TickingClock final : public Clock {
   public:
    WallTime Now() const override { return WallTime(std::chrono::milliseconds(ms_ += 1000)); }
    SteadyTime SteadyNow() const override {
      return SteadyTime(std::chrono::milliseconds(ms_.load()));
    }

   private:
    mutable std::atomic<int64_t> ms_{1'800'000'000'000};
  };
  TickingClock clock_;
};

TEST_F(AuditLogTest, CleanLogVerifies) {
  auto log = OpenLog();
  for (int i = 1; i <= kEntries; ++i) log->Append(Request(i));
  AuditVerdict live = log->Verify();
  EXPECT_TRUE(live.ok) << DescribeVerdict(live);
  EXPECT_EQ(live.count, uint64_t{kEntries});
  log->Close();

  AuditVerdict verdict = VerifyFile();
  EXPECT_TRUE(verdict.ok) << DescribeVerdict(verdict);
  EXPECT_EQ(verdict.count, uint64_t{kEntries});
  EXPECT_EQ(DescribeVerdict(verdict), "OK: 10 entries");
  EXPECT_EQ(ReadAuditHead(*store_)->end.seq, uint64_t{kEntries});
}

TEST_F(AuditLogTest, LinesAreJsonWithTheRequestFieldsAndAMac) {
  WriteCleanLog();
  std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), size_t{kEntries});
  EXPECT_THAT(lines[1], ::testing::StartsWith(R"({"seq":2,"time":"2027-01-15T08:00:02.000Z",)"
                                              R"("principal":"hub","op":"unwrapKey",)"));
  EXPECT_THAT(lines[1], HasSubstr(R"("key":"hub-cmk","version":"0123456789abcdef0123456789abcdef",)"
                                  R"("status":200,"code":"","client":"127.0.0.1","mac":")"));
  std::optional<AuditEntry> e = ParseAuditLine(lines[2]);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->seq, 3u);
  EXPECT_EQ(e->principal, "");
  EXPECT_EQ(e->status, 401u);
  EXPECT_EQ(e->code, "Unauthorized");
}

TEST_F(AuditLogTest, EditedEntryWithTheChainRecomputedUnderAGuessedKeyIsDetected) {
  WriteCleanLog();
  std::vector<std::string> lines = Lines();
  Replace(lines[3], R"("status":200)", R"("status":403)");
  auto guessed = std::move(crypto::SecretBytes::Random(32).value());
  Rechain(lines, 3, [&](const AuditMac& prev, const std::string& body) {
    return ChainMac(guessed, prev, body).value();
  });
  WriteLines(lines);

  AuditVerdict verdict = VerifyFile();
  ASSERT_FALSE(verdict.ok);
  EXPECT_EQ(verdict.failure->seq, 4u);
  EXPECT_THAT(verdict.failure->reason, HasSubstr("MAC mismatch"));
  EXPECT_EQ(verdict.count, 3u);
}

TEST_F(AuditLogTest, EditedEntryWithTheChainRecomputedAsPlainSha256IsDetected) {
  WriteCleanLog();
  std::vector<std::string> lines = Lines();
  Replace(lines[4], R"("principal":"hub")", R"("principal":"owner")");
  Rechain(lines, 4, [](const AuditMac& prev, const std::string& body) {
    std::string input(reinterpret_cast<const char*>(prev.data()), prev.size());
    input += body;
    AuditMac mac;
    SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(),
           reinterpret_cast<unsigned char*>(mac.data()));
    return mac;
  });
  WriteLines(lines);

  AuditVerdict verdict = VerifyFile();
  ASSERT_FALSE(verdict.ok);
  EXPECT_EQ(verdict.failure->seq, 5u);
  EXPECT_THAT(verdict.failure->reason, HasSubstr("MAC mismatch"));
}

TEST_F(AuditLogTest, RemovedEntryIsDetected) {
  WriteCleanLog();
  std::vector<std::string> lines = Lines();
  lines.erase(lines.begin() + 4);
  WriteLines(lines);

  AuditVerdict verdict = VerifyFile();
  ASSERT_FALSE(verdict.ok);
  EXPECT_EQ(verdict.failure->seq, 5u);
  EXPECT_EQ(verdict.failure->reason, "entry 5 is missing");
  EXPECT_EQ(DescribeVerdict(verdict), "FAILED at entry 5: entry 5 is missing (4 verified)");
}

TEST_F(AuditLogTest, ReorderedEntriesAreDetected) {
  WriteCleanLog();
  std::vector<std::string> lines = Lines();
  std::swap(lines[2], lines[3]);
  WriteLines(lines);

  AuditVerdict verdict = VerifyFile();
  ASSERT_FALSE(verdict.ok);
  EXPECT_EQ(verdict.failure->seq, 3u);
  EXPECT_EQ(verdict.failure->reason, "out of order: entry 3 comes after entry 4");
}

TEST_F(AuditLogTest, DroppingTheLastThreeEntriesIsDetected) {
  WriteCleanLog();
  DropLastLines(3);

  AuditVerdict verdict = VerifyFile();
  ASSERT_FALSE(verdict.ok);
  EXPECT_EQ(verdict.failure->seq, 8u);
  EXPECT_EQ(verdict.failure->reason,
            "truncated: the log ends after entry 7, but the sealed head covers 10 entries");
}

TEST_F(AuditLogTest, ReopenedLogContinuesTheChain) {
  WriteCleanLog();
  auto log = OpenLog();
  EXPECT_EQ(log->count(), uint64_t{kEntries});
  EXPECT_EQ(log->damage_at_open(), "");
  log->Append(Request(11));
  log->Close();
  AuditVerdict verdict = VerifyFile();
  EXPECT_TRUE(verdict.ok) << DescribeVerdict(verdict);
  EXPECT_EQ(verdict.count, 11u);
}

TEST_F(AuditLogTest, TailWrittenAfterTheLastSyncIsAdoptedAtOpen) {
  auto log = OpenLog();
  for (int i = 1; i <= 5; ++i) log->Append(Request(i));
  COFFRE_ASSERT_OK(log->Sync());
  nlohmann::json synced = store_->GetJson("audit/head").value();
  for (int i = 6; i <= 8; ++i) log->Append(Request(i));
  log->Close();
  // As if the process died before its next sync: the head still covers 5 entries.
  COFFRE_ASSERT_OK(store_->PutJson("audit/head", synced));

  log = OpenLog();
  EXPECT_EQ(log->damage_at_open(), "");
  EXPECT_EQ(log->count(), 8u);
  log->Close();
  EXPECT_TRUE(VerifyFile().ok);
  EXPECT_EQ(ReadAuditHead(*store_)->end.seq, 8u);
}

TEST_F(AuditLogTest, TornLastLineIsMovedAsideAtOpen) {
  WriteCleanLog();
  uint64_t size = std::filesystem::file_size(path());
  {
    std::ofstream out(path(), std::ios::app);
    out << R"({"seq":11,"time":"2027-01-)";
  }
  auto log = OpenLog();
  EXPECT_EQ(log->damage_at_open(), "");
  EXPECT_EQ(log->count(), uint64_t{kEntries});
  EXPECT_EQ(std::filesystem::file_size(path()), size);
  std::filesystem::path rejected = path();
  rejected += ".rejected";
  EXPECT_EQ(ReadTextFile(rejected).value(), R"({"seq":11,"time":"2027-01-)");
  log->Append(Request(11));
  EXPECT_TRUE(log->Verify().ok);
}

TEST_F(AuditLogTest, TruncationFoundAtOpenIsRecordedAndVerifyKeepsReportingIt) {
  WriteCleanLog();
  DropLastLines(3);

  auto log = OpenLog();
  EXPECT_EQ(log->damage_at_open(), "AuditLogTruncated");
  // The chain goes on from the sealed head: entry 11 records the damage.
  EXPECT_EQ(log->count(), 11u);
  log->Append(Request(12));
  AuditVerdict verdict = log->Verify();
  ASSERT_FALSE(verdict.ok);
  EXPECT_EQ(verdict.failure->seq, 8u);
  EXPECT_EQ(verdict.failure->reason, "entries 8 to 10 are missing");

  std::vector<AuditEntry> tail = log->Tail(2).value();
  ASSERT_EQ(tail.size(), 2u);
  EXPECT_EQ(tail[0].seq, 11u);
  EXPECT_EQ(tail[0].op, "auditDamaged");
  EXPECT_EQ(tail[0].principal, kVaultPrincipal);
  EXPECT_EQ(tail[0].code, "AuditLogTruncated");
  EXPECT_EQ(tail[1].seq, 12u);

  // Reopening finds the head consistent again and records nothing new.
  log.reset();
  log = OpenLog();
  EXPECT_EQ(log->damage_at_open(), "");
  EXPECT_EQ(log->Verify().failure->seq, 8u);
}

TEST_F(AuditLogTest, ChangedLastEntryIsFoundAtOpen) {
  WriteCleanLog();
  std::vector<std::string> lines = Lines();
  // Entry 10 re-MACed under a guessed key: same length, another MAC than the sealed head's.
  auto guessed = std::move(crypto::SecretBytes::Random(32).value());
  Rechain(lines, 9, [&](const AuditMac& prev, const std::string& body) {
    return ChainMac(guessed, prev, body).value();
  });
  WriteLines(lines);

  auto log = OpenLog();
  EXPECT_EQ(log->damage_at_open(), "AuditHeadMismatch");
  AuditVerdict verdict = log->Verify();
  ASSERT_FALSE(verdict.ok);
  EXPECT_EQ(verdict.failure->seq, 10u);
}

TEST_F(AuditLogTest, LostHeadIsFoundAtOpen) {
  WriteCleanLog();
  COFFRE_ASSERT_OK(store_->Delete("audit/head"));
  auto log = OpenLog();
  EXPECT_EQ(log->damage_at_open(), "AuditHeadMissing");
  EXPECT_EQ(log->count(), uint64_t{kEntries} + 1);
  EXPECT_TRUE(log->Verify().ok);
}

TEST_F(AuditLogTest, EntriesAppendedFromManyThreadsFormOneChain) {
  auto log = OpenLog();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&log] {
      for (int i = 0; i < 250; ++i) log->Append(Request(i));
    });
  }
  for (auto& t : threads) t.join();
  AuditVerdict verdict = log->Verify();
  EXPECT_TRUE(verdict.ok) << DescribeVerdict(verdict);
  EXPECT_EQ(verdict.count, 1000u);
  EXPECT_EQ(log->Tail(1000).value().size(), 1000u);
  EXPECT_EQ(log->Tail(5).value().back().seq, 1000u);
}

}  // namespace
}  // namespace coffre::vault
