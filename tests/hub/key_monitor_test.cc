#include "hub/key_monitor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "common/clock.h"
#include "fakes/fake_key_provider.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"

namespace coffre::hub {
namespace {

using testing::FakeKeyProvider;

class KeyMonitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kv_ = std::move(storage::RocksKvStore::Open(dir_.path() / "meta").value());
    keys_ = std::move(HubKeys::Open(*kv_, provider_).value());
    COFFRE_ASSERT_OK_AND_ASSIGN(auto writer, keys_->StartWriter(1));
    sealed_ = std::move(writer->Seal(AsBytes("a"), AsBytes("record")).value());
  }
  std::unique_ptr<KeyMonitor> Monitor(bool expired_is_inaccessible = true) {
    KeyMonitorOptions o;
    o.key_uri = "fake://keys/fake";
    o.grace = std::chrono::seconds(3);
    o.expired_is_inaccessible = expired_is_inaccessible;
    o.clock = &clock_;
    return std::make_unique<KeyMonitor>(*keys_, provider_, o, [this](const EncryptionStatus& s) {
      changes_.push_back(s);
    });
  }
  bool Decrypts() { return keys_->Open(sealed_, AsBytes("a")).has_value(); }

  testing::TempDir dir_;
  FakeKeyProvider provider_;
  std::unique_ptr<storage::RocksKvStore> kv_;
  std::unique_ptr<HubKeys> keys_;
  Bytes sealed_;
  ManualClock clock_;  // 1,800,000,000 s since the epoch
  std::vector<EncryptionStatus> changes_;
};

TEST_F(KeyMonitorTest, ADisabledKeyLocksTheHubAndEnablingItUnlocks) {
  auto monitor = Monitor();
  monitor->CheckNow();
  EXPECT_TRUE(monitor->status().accessible);
  EXPECT_TRUE(changes_.empty());

  provider_.set_state(crypto::KeyState::kDisabled);
  clock_.Advance(std::chrono::milliseconds(500));
  monitor->CheckNow();
  EncryptionStatus s = monitor->status();
  EXPECT_FALSE(s.accessible);
  EXPECT_EQ(s.reason, "KeyDisabled");
  EXPECT_EQ(s.since_ms, clock_.NowMillis());
  EXPECT_EQ(s.key_id, FakeKeyProvider::kId);
  EXPECT_TRUE(keys_->locked());
  EXPECT_FALSE(Decrypts());
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_FALSE(changes_[0].accessible);
  monitor->CheckNow();
  EXPECT_EQ(changes_.size(), 1u) << "no news while nothing changes";

  provider_.set_state(crypto::KeyState::kEnabled);
  clock_.Advance(std::chrono::milliseconds(500));
  monitor->CheckNow();
  EXPECT_TRUE(monitor->status().accessible);
  EXPECT_FALSE(keys_->locked());
  EXPECT_TRUE(Decrypts()) << "every earlier record reads back";
  ASSERT_EQ(changes_.size(), 2u);
  EXPECT_TRUE(changes_[1].accessible);
}

// A hub that starts while its vault is unreachable stays Inaccessible until it answers.
TEST_F(KeyMonitorTest, AHubOpenedLockedStaysInaccessibleUntilTheVaultAnswers) {
  keys_.reset();
  keys_ = std::move(HubKeys::OpenLocked(*kv_).value());
  provider_.set_mode(FakeKeyProvider::Mode::kUnreachable);
  auto monitor = Monitor();
  EXPECT_FALSE(monitor->status().accessible);
  monitor->CheckNow();
  EXPECT_FALSE(monitor->status().accessible) << "no grace period without keys to serve with";
  EXPECT_FALSE(Decrypts());
  provider_.set_mode(FakeKeyProvider::Mode::kNormal);
  monitor->CheckNow();
  EXPECT_TRUE(monitor->status().accessible);
  EXPECT_TRUE(Decrypts());
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_TRUE(changes_[0].accessible);
}

// Access is all three rights: with unwrapKey back but wrapKey still revoked, a locked hub stays
// locked (it never takes its root key back just to drop it again).
TEST_F(KeyMonitorTest, ALockedHubUnlocksOnlyWhenEveryRightIsBack) {
  auto monitor = Monitor();
  provider_.set_mode(FakeKeyProvider::Mode::kDenied);
  monitor->CheckNow();
  ASSERT_TRUE(keys_->locked());
  provider_.set_mode(FakeKeyProvider::Mode::kNormal);
  provider_.set_wrap_denied(true);
  monitor->CheckNow();
  EXPECT_FALSE(monitor->status().accessible);
  EXPECT_EQ(monitor->status().reason, "AccessDenied");
  EXPECT_TRUE(keys_->locked());
  EXPECT_FALSE(Decrypts());
  provider_.set_wrap_denied(false);
  monitor->CheckNow();
  EXPECT_TRUE(monitor->status().accessible);
  EXPECT_TRUE(Decrypts());
}

TEST_F(KeyMonitorTest, AKeyWithoutPurgeProtectionIsReportedAndLogged) {
  auto monitor = Monitor();
  ::testing::internal::CaptureStderr();
  provider_.set_purge_protected(false);
  monitor->CheckNow();
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_FALSE(monitor->status().purge_protected);
  EXPECT_TRUE(monitor->status().accessible) << "a warning, not a refusal";
  EXPECT_NE(log.find("has no purge protection"), std::string::npos) << log;
}

TEST_F(KeyMonitorTest, RevokedAccessAndDeletedKeysAreInaccessibleAtOnce) {
  auto monitor = Monitor();
  provider_.set_mode(FakeKeyProvider::Mode::kDenied);
  monitor->CheckNow();
  EXPECT_EQ(monitor->status().reason, "AccessDenied");
  EXPECT_TRUE(keys_->locked());
  provider_.set_mode(FakeKeyProvider::Mode::kNormal);
  provider_.set_state(crypto::KeyState::kDeleted);
  monitor->CheckNow();
  EXPECT_EQ(monitor->status().reason, "KeyDeleted");
  EXPECT_FALSE(monitor->status().accessible);
}

TEST_F(KeyMonitorTest, AnUnreachableVaultIsToleratedForTheGracePeriodOnly) {
  auto monitor = Monitor();
  monitor->CheckNow();
  provider_.set_mode(FakeKeyProvider::Mode::kUnreachable);
  clock_.Advance(std::chrono::milliseconds(1000));
  monitor->CheckNow();  // the grace period starts here
  EXPECT_TRUE(monitor->status().accessible);
  EXPECT_EQ(monitor->status().reason, "VaultUnreachable") << "serving on cached keys, and saying so";
  EXPECT_TRUE(Decrypts());
  clock_.Advance(std::chrono::milliseconds(2900));  // 2.9 s into the grace period
  monitor->CheckNow();
  EXPECT_TRUE(monitor->status().accessible);
  clock_.Advance(std::chrono::milliseconds(200));   // 3.1 s
  monitor->CheckNow();
  EXPECT_FALSE(monitor->status().accessible);
  EXPECT_TRUE(keys_->locked());
  // Still unreachable: no grace a second time.
  clock_.Advance(std::chrono::milliseconds(100));
  monitor->CheckNow();
  EXPECT_FALSE(monitor->status().accessible);
  provider_.set_mode(FakeKeyProvider::Mode::kNormal);
  monitor->CheckNow();
  EXPECT_TRUE(monitor->status().accessible);
  EXPECT_TRUE(Decrypts());
}

TEST_F(KeyMonitorTest, AnExpiredKeyIsInaccessibleUnlessConfiguredToContinue) {
  provider_.set_state(crypto::KeyState::kExpired);
  auto strict = Monitor();
  strict->CheckNow();
  EXPECT_EQ(strict->status().reason, "KeyExpired");
  EXPECT_TRUE(keys_->locked());
  strict.reset();
  // Key Vault's own semantics: an expired key still unwraps, so the hub carries on.
  auto lenient = Monitor(/*expired_is_inaccessible=*/false);
  lenient->CheckNow();
  EXPECT_TRUE(lenient->status().accessible);
  EXPECT_FALSE(keys_->locked());
  EXPECT_TRUE(Decrypts());
}

TEST_F(KeyMonitorTest, TheMonitorThreadNoticesWithinItsInterval) {
  KeyMonitorOptions o;
  o.interval = std::chrono::milliseconds(20);
  std::atomic<int> flips{0};
  KeyMonitor monitor(*keys_, provider_, o, [&flips](const EncryptionStatus&) { ++flips; });
  monitor.Start();
  provider_.set_state(crypto::KeyState::kDisabled);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (monitor.status().accessible && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_FALSE(monitor.status().accessible);
  monitor.Stop();
  EXPECT_EQ(flips.load(), 1);
}

// A key event wakes the thread long before its interval; a burst of wakes costs a few checks.
TEST_F(KeyMonitorTest, WakeRunsACheckNowAndABurstCoalesces) {
  KeyMonitorOptions o;
  o.interval = std::chrono::seconds(30);
  KeyMonitor monitor(*keys_, provider_, o, nullptr);
  monitor.Start();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (monitor.checks() < 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(monitor.checks(), 1u);
  provider_.set_state(crypto::KeyState::kDisabled);
  auto woken = std::chrono::steady_clock::now();
  monitor.Wake();
  while (monitor.status().accessible && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_FALSE(monitor.status().accessible);
  EXPECT_LT(std::chrono::steady_clock::now() - woken, std::chrono::seconds(2));

  uint64_t before = monitor.checks();
  for (int i = 0; i < 100; ++i) monitor.Wake();
  std::this_thread::sleep_for(KeyMonitor::kMinWakeGap * 4);
  uint64_t burst = monitor.checks() - before;
  EXPECT_GE(burst, 1u) << "a wake after a check asks for another";
  EXPECT_LE(burst, 2u) << "100 wakes at once coalesce";
  monitor.Stop();
}

}  // namespace
}  // namespace coffre::hub
