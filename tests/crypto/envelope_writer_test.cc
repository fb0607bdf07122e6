#include "crypto/envelope_writer.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "common/files.h"
#include "crypto/envelope.h"
#include "crypto/envelope_reader.h"
#include "crypto/file_data_key_store.h"
#include "test_util.h"

namespace coffre::crypto {
namespace {

using testing::StatusIs;

class EnvelopeWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::move(RootKey::Generate().value());
    store_ = OpenStore();
  }
  std::unique_ptr<FileDataKeyStore> OpenStore() {
    return std::move(FileDataKeyStore::Open(dir_.path() / "keys").value());
  }
  std::unique_ptr<EnvelopeWriter> StartWriter(DataKeyStore& store, uint32_t scope = 7) {
    auto w = EnvelopeWriter::Start(scope, *root_, store);
    EXPECT_TRUE(w.has_value()) << w.status();
    return w.has_value() ? std::move(*w) : nullptr;
  }
  // The (epoch, nonce) of a sealed record, as read from its header.
  static std::pair<uint64_t, std::string> KeyAndNonce(ByteSpan env) {
    auto h = ReadEnvelopeHeader(env);
    EXPECT_TRUE(h.has_value());
    return {h->epoch, HexEncode(h->nonce)};
  }

  testing::TempDir dir_;
  std::unique_ptr<RootKey> root_;
  std::unique_ptr<FileDataKeyStore> store_;
};

TEST_F(EnvelopeWriterTest, NoncesCountUpUnderOneKeyAndRecordsOpen) {
  auto writer = StartWriter(*store_);
  EnvelopeReader reader(*root_, *store_);
  for (uint64_t i = 0; i < 5; ++i) {
    std::string aad = "t/7/" + std::to_string(i);
    COFFRE_ASSERT_OK_AND_ASSIGN(Bytes env, writer->Seal(AsBytes(aad), AsBytes("m")));
    auto [epoch, nonce] = KeyAndNonce(env);
    EXPECT_EQ(epoch, writer->key_id().epoch);
    EXPECT_EQ(nonce, "00000000000000000000000" + std::to_string(i));  // 96-bit counter
    COFFRE_ASSERT_OK_AND_ASSIGN(Bytes opened, reader.Open(env, AsBytes(aad)));
    EXPECT_EQ(AsChars(opened), "m");
  }
  EXPECT_EQ(writer->seals(), 5u);
}

TEST_F(EnvelopeWriterTest, EpochAndWrappedKeyAreDurableBeforeTheFirstSeal) {
  auto writer = StartWriter(*store_);
  DataKeyId id = writer->key_id();
  // A second process opening the same directory sees both right away.
  auto other = OpenStore();
  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes wrapped, other->GetWrapped(id));
  EXPECT_EQ(wrapped.size(), SealedEnvelopeSize(32));
  COFFRE_ASSERT_OK_AND_ASSIGN(uint64_t next, other->ReserveEpoch(id.scope));
  EXPECT_GT(next, id.epoch);
}

// Runs a writer incarnation in a child process that seals `count` records, writes them to
// `out`, and is then killed with SIGKILL: no destructor, no clean shutdown, as in a crash.
void SealInCrashingProcess(RootKey& root, const std::filesystem::path& store_dir,
                           const std::filesystem::path& out, const std::string& tag, int count) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto store = FileDataKeyStore::Open(store_dir);
    auto writer = EnvelopeWriter::Start(7, root, **store);
    if (!writer.has_value()) ::_exit(2);
    Bytes all;
    for (int i = 0; i < count; ++i) {
      std::string aad = tag + "/" + std::to_string(i);
      Bytes env = *(*writer)->Seal(AsBytes(aad), AsBytes(aad));
      Bytes len(4);
      PutU32(len.data(), static_cast<uint32_t>(env.size()));
      all.insert(all.end(), len.begin(), len.end());
      all.insert(all.end(), env.begin(), env.end());
    }
    if (!WriteFileDurably(out, all).ok()) ::_exit(3);
    ::kill(::getpid(), SIGKILL);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child status " << status;
}

std::vector<Bytes> ReadRecords(const std::filesystem::path& path) {
  std::vector<Bytes> out;
  Bytes all = *ReadFile(path);
  for (size_t pos = 0; pos + 4 <= all.size();) {
    uint32_t n = GetU32(all.data() + pos);
    out.emplace_back(all.begin() + pos + 4, all.begin() + pos + 4 + n);
    pos += 4 + n;
  }
  return out;
}

// A writer killed without any clean shutdown and restarted from the state on disk gets a new
// epoch and a new key: no (key, nonce) pair is used twice, and every record still opens.
TEST_F(EnvelopeWriterTest, RestartAfterCrashNeverReusesANonceUnderAKey) {
  std::set<std::pair<uint64_t, std::string>> used;
  EnvelopeReader reader(*root_, *store_);
  for (int incarnation = 0; incarnation < 3; ++incarnation) {
    std::string tag = "r" + std::to_string(incarnation);
    auto out = dir_.path() / tag;
    SealInCrashingProcess(*root_, dir_.path() / "keys", out, tag, 10);
    std::vector<Bytes> records = ReadRecords(out);
    ASSERT_EQ(records.size(), 10u);
    for (size_t i = 0; i < records.size(); ++i) {
      EXPECT_TRUE(used.insert(KeyAndNonce(records[i])).second) << "reused in " << tag;
      std::string aad = tag + "/" + std::to_string(i);
      COFFRE_ASSERT_OK_AND_ASSIGN(Bytes opened, reader.Open(records[i], AsBytes(aad)));
      EXPECT_EQ(AsChars(opened), aad);
    }
  }
  EXPECT_EQ(used.size(), 30u);
}

// Even if the epoch counter is rolled back to an old state (a restored backup), the stored data
// key of that epoch is never replaced: the writer moves on to a fresh epoch and a fresh key.
TEST_F(EnvelopeWriterTest, RolledBackEpochCounterDoesNotReuseOrReplaceAKey) {
  auto counter = dir_.path() / "keys" / "epoch-7";
  ASSERT_EQ(ReadFile(counter).status().code(), StatusCode::kNotFound);
  SealInCrashingProcess(*root_, dir_.path() / "keys", dir_.path() / "first", "a", 1);
  std::filesystem::remove(counter);  // roll the counter back to before the first writer

  auto second = StartWriter(*store_);
  EXPECT_GT(second->key_id().epoch, 1u);
  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes env2, second->Seal(AsBytes("a/0"), AsBytes("second")));
  Bytes env = ReadRecords(dir_.path() / "first").at(0);
  EXPECT_NE(KeyAndNonce(env), KeyAndNonce(env2));
  EnvelopeReader reader(*root_, *store_);
  EXPECT_EQ(AsChars(*reader.Open(env, AsBytes("a/0"))), "a/0");
  EXPECT_EQ(AsChars(*reader.Open(env2, AsBytes("a/0"))), "second");
}

TEST_F(EnvelopeWriterTest, ConcurrentWritersOfOneScopeGetDistinctEpochs) {
  constexpr int kWriters = 8;
  std::vector<uint64_t> epochs(kWriters);
  std::vector<std::thread> threads;
  for (int i = 0; i < kWriters; ++i) {
    threads.emplace_back([&, i] {
      auto store = OpenStore();  // each as its own process would
      auto w = EnvelopeWriter::Start(7, *root_, *store);
      epochs[i] = w.has_value() ? (*w)->key_id().epoch : 0;
    });
  }
  for (auto& t : threads) t.join();
  std::set<uint64_t> distinct(epochs.begin(), epochs.end());
  EXPECT_EQ(distinct.size(), size_t{kWriters});
  EXPECT_EQ(distinct.count(0), 0u);
}

TEST_F(EnvelopeWriterTest, NonceBudgetIsAHardLimit) {
  auto w = EnvelopeWriter::Start(7, *root_, *store_, /*max_seals=*/3);
  ASSERT_TRUE(w.has_value());
  for (int i = 0; i < 3; ++i) COFFRE_EXPECT_OK((*w)->Seal({}, AsBytes("x")).status());
  EXPECT_TRUE((*w)->exhausted());
  EXPECT_THAT((*w)->Seal({}, AsBytes("x")).status(), StatusIs(StatusCode::kResourceExhausted));
}

TEST_F(EnvelopeWriterTest, DefaultBudgetIsTwoToThe32) {
  EXPECT_EQ(kMaxSealsPerDataKey, uint64_t{1} << 32);
}

TEST_F(EnvelopeWriterTest, ReaderFailsTheSameWayForUnknownKeysWrongAadAndForeignRoots) {
  auto writer = StartWriter(*store_);
  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes env, writer->Seal(AsBytes("id"), AsBytes("m")));
  EnvelopeReader reader(*root_, *store_);
  EXPECT_EQ(reader.Open(env, AsBytes("other")).status(), OpenFailed());

  Bytes unknown_epoch = env;
  unknown_epoch[15] ^= std::byte{0x40};
  EXPECT_EQ(reader.Open(unknown_epoch, AsBytes("id")).status(), OpenFailed());

  auto foreign_root = std::move(RootKey::Generate().value());
  EnvelopeReader foreign(*foreign_root, *store_);
  EXPECT_EQ(foreign.Open(env, AsBytes("id")).status(), OpenFailed());
}

TEST_F(EnvelopeWriterTest, ForgetDropsCachedDataKeys) {
  auto writer = StartWriter(*store_);
  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes env, writer->Seal(AsBytes("id"), AsBytes("m")));
  EnvelopeReader reader(*root_, *store_);
  COFFRE_ASSERT_OK(reader.Open(env, AsBytes("id")).status());
  EXPECT_EQ(reader.cached_keys(), 1u);
  reader.Forget();
  EXPECT_EQ(reader.cached_keys(), 0u);
}

TEST_F(EnvelopeWriterTest, RootKeyScopeIsReserved) {
  EXPECT_THAT(EnvelopeWriter::Start(kRootKeyId, *root_, *store_).status(),
              StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace coffre::crypto
