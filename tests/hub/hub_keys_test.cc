#include "hub/hub_keys.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "fakes/fake_key_provider.h"
#include "fakes/slow_key_provider.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"

namespace coffre::hub {
namespace {

using testing::FakeKeyProvider;
using testing::StatusIs;

class HubKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kv_ = std::move(storage::RocksKvStore::Open(dir_.path() / "meta").value());
    keys_ = std::move(HubKeys::Open(*kv_, provider_).value());
  }
  testing::TempDir dir_;
  FakeKeyProvider provider_;
  std::unique_ptr<storage::RocksKvStore> kv_;
  std::unique_ptr<HubKeys> keys_;
};

TEST_F(HubKeysTest, LockedKeysRefuseEverythingUntilUnlocked) {
  COFFRE_ASSERT_OK_AND_ASSIGN(auto writer, keys_->StartWriter(7));
  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes sealed, writer->Seal(AsBytes("aad"), AsBytes("secret record")));
  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes mac, keys_->Hmac("rows", "dev-01"));

  keys_->Lock();
  EXPECT_TRUE(keys_->locked());
  EXPECT_THAT(keys_->Open(sealed, AsBytes("aad")).status(), StatusIs(StatusCode::kUnavailable));
  EXPECT_THAT(keys_->Hmac("rows", "dev-01").status(), StatusIs(StatusCode::kUnavailable));
  EXPECT_THAT(keys_->StartWriter(7).status(), StatusIs(StatusCode::kUnavailable));
  EXPECT_TRUE(writer->exhausted()) << "a writer started before the lock lost its data key";
  EXPECT_THAT(writer->Seal(AsBytes("aad"), AsBytes("more")).status(), StatusIs(StatusCode::kUnavailable));

  provider_.set_mode(FakeKeyProvider::Mode::kDenied);
  EXPECT_THAT(keys_->Unlock(provider_), StatusIs(StatusCode::kPermissionDenied));
  EXPECT_TRUE(keys_->locked());
  provider_.set_mode(FakeKeyProvider::Mode::kNormal);
  COFFRE_ASSERT_OK(keys_->Unlock(provider_));
  EXPECT_FALSE(keys_->locked());
  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes plain, keys_->Open(sealed, AsBytes("aad")));
  EXPECT_EQ(AsChars(plain), "secret record");
  EXPECT_EQ(keys_->Hmac("rows", "dev-01").value(), mac) << "derived keys come back the same";
  COFFRE_ASSERT_OK(keys_->StartWriter(7).status());
}

TEST_F(HubKeysTest, RewrapReplacesTheStoredCopyAndTheHubReopensWithIt) {
  COFFRE_ASSERT_OK_AND_ASSIGN(auto writer, keys_->StartWriter(7));
  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes sealed, writer->Seal(AsBytes("aad"), AsBytes("record")));
  crypto::WrappedKey before = keys_->wrapped_root();
  COFFRE_ASSERT_OK(keys_->Rewrap(provider_));
  EXPECT_NE(keys_->wrapped_root().ciphertext, before.ciphertext);
  keys_.reset();
  keys_ = std::move(HubKeys::Open(*kv_, provider_).value());
  EXPECT_EQ(keys_->wrapped_root(), keys_->wrapped_root());
  EXPECT_EQ(AsChars(keys_->Open(sealed, AsBytes("aad")).value()), "record");
  keys_->Lock();
  EXPECT_THAT(keys_->Rewrap(provider_), StatusIs(StatusCode::kUnavailable));
}

// Two hub nodes on one store: A moves the root key to another customer key (rewrapped copy in
// the store); B, locked, unlocks with that key through the stored copy, which it never read.
// A stored copy of some other root key (a store that lies) is never taken: B keeps its own.
TEST_F(HubKeysTest, ALockedNodeUnlocksWithTheCopyAnotherNodeRewrappedButNeverAnotherRoot) {
  COFFRE_ASSERT_OK_AND_ASSIGN(auto b, HubKeys::Open(*kv_, provider_));
  COFFRE_ASSERT_OK_AND_ASSIGN(auto writer, keys_->StartWriter(7));
  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes sealed, writer->Seal(AsBytes("aad"), AsBytes("record")));
  FakeKeyProvider other_key;
  COFFRE_ASSERT_OK(keys_->Rewrap(other_key));
  b->Lock();
  COFFRE_ASSERT_OK(b->Unlock(other_key));  // only the stored copy opens with other_key
  EXPECT_EQ(b->wrapped_root(), keys_->wrapped_root());
  EXPECT_EQ(AsChars(b->Open(sealed, AsBytes("aad")).value()), "record");

  // Another hub's root key, wrapped under the same customer key, put in the row.
  ::coffre::testing::TempDir elsewhere;
  auto other_kv = std::move(storage::RocksKvStore::Open(elsewhere.path() / "meta").value());
  COFFRE_ASSERT_OK(HubKeys::Open(*other_kv, other_key).status());
  COFFRE_ASSERT_OK(kv_->Put(kRootKeyRow, other_kv->Get(kRootKeyRow).value(), true));
  b->Lock();
  COFFRE_ASSERT_OK(b->Unlock(other_key));
  EXPECT_EQ(AsChars(b->Open(sealed, AsBytes("aad")).value()), "record");  // its own root still
}

// The vault round trips and the synced write of a rotation or an unlock happen outside the lock
// key users share: sealing, opening and Lock() itself go on meanwhile. Each vault call is held
// (5 s at most, against a 1 s bound) until those checks are done.
TEST_F(HubKeysTest, KeyUsersAndLockDoNotWaitForTheVaultDuringRewrapOrUnlock) {
  using Clock = std::chrono::steady_clock;
  COFFRE_ASSERT_OK_AND_ASSIGN(auto writer, keys_->StartWriter(7));
  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes sealed, writer->Seal(AsBytes("aad"), AsBytes("record")));
  testing::SlowKeyProvider slow(provider_, std::chrono::seconds(5));
  crypto::WrappedKey before = keys_->wrapped_root();
  Status rewrapped;
  std::thread rewrap([&] { rewrapped = keys_->Rewrap(slow); });
  while (!slow.entered()) std::this_thread::yield();
  auto start = Clock::now();
  COFFRE_EXPECT_OK(keys_->Open(sealed, AsBytes("aad")).status());
  COFFRE_EXPECT_OK(keys_->Hmac("rows", "dev-01").status());
  COFFRE_EXPECT_OK(keys_->StartWriter(8).status());
  EXPECT_EQ(keys_->wrapped_root(), before) << "the old copy serves until the new one is stored";
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 1.0);
  slow.Release();
  rewrap.join();
  COFFRE_ASSERT_OK(rewrapped);
  EXPECT_NE(keys_->wrapped_root().ciphertext, before.ciphertext);

  testing::SlowKeyProvider slow_again(provider_, std::chrono::seconds(5));
  std::thread rewrap_again([&] { rewrapped = keys_->Rewrap(slow_again); });
  while (!slow_again.entered()) std::this_thread::yield();
  start = Clock::now();
  keys_->Lock();  // the key turned inaccessible mid-rotation: at once, not after the vault
  EXPECT_TRUE(keys_->locked());
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 1.0);
  EXPECT_THAT(keys_->Open(sealed, AsBytes("aad")).status(), StatusIs(StatusCode::kUnavailable));
  slow_again.Release();
  rewrap_again.join();

  testing::SlowKeyProvider slow_unlock(provider_, std::chrono::seconds(5));
  Status unlocked;
  std::thread unlock([&] { unlocked = keys_->Unlock(slow_unlock); });
  while (!slow_unlock.entered()) std::this_thread::yield();
  start = Clock::now();
  EXPECT_TRUE(keys_->locked());
  EXPECT_THAT(keys_->Open(sealed, AsBytes("aad")).status(), StatusIs(StatusCode::kUnavailable));
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 1.0);
  slow_unlock.Release();
  unlock.join();
  COFFRE_ASSERT_OK(unlocked);
  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes plain, keys_->Open(sealed, AsBytes("aad")));
  EXPECT_EQ(AsChars(plain), "record");
}

}  // namespace
}  // namespace coffre::hub
