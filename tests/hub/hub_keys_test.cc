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

// Hub nodes sharing a store follow a rotation one at a time: the first stores a copy under the
// new key; the others, finding a copy stored since theirs that opens to the same root, take it
// (one vault call, no write), so every node holds the stored copy. Racing, the same.
TEST_F(HubKeysTest, NodesFollowingOneRotationStoreOneCopyAndAllHoldIt) {
  COFFRE_ASSERT_OK_AND_ASSIGN(auto b, HubKeys::Open(*kv_, provider_));
  COFFRE_ASSERT_OK_AND_ASSIGN(auto c, HubKeys::Open(*kv_, provider_));
  FakeKeyProvider rotated;  // the customer key after a rotation (a new version: a new KEK)
  COFFRE_ASSERT_OK(keys_->Rewrap(rotated));
  const Bytes stored = kv_->Get(kRootKeyRow).value();
  const int calls = rotated.calls();
  COFFRE_ASSERT_OK(b->Rewrap(rotated));
  EXPECT_EQ(rotated.calls() - calls, 1) << "b took the stored copy: one unwrap, no wrap";
  EXPECT_EQ(kv_->Get(kRootKeyRow).value(), stored) << "b wrote nothing";
  EXPECT_EQ(b->wrapped_root(), keys_->wrapped_root());

  FakeKeyProvider again;
  Status ra, rb, rc;
  std::thread ta([&] { ra = keys_->Rewrap(again); });
  std::thread tb([&] { rb = b->Rewrap(again); });
  std::thread tc([&] { rc = c->Rewrap(again); });
  ta.join();
  tb.join();
  tc.join();
  COFFRE_ASSERT_OK(ra);
  COFFRE_ASSERT_OK(rb);
  COFFRE_ASSERT_OK(rc);
  const crypto::WrappedKey now =
      crypto::ParseWrappedKey(AsChars(kv_->Get(kRootKeyRow).value())).value();
  EXPECT_EQ(keys_->wrapped_root(), now);
  EXPECT_EQ(b->wrapped_root(), now);
  EXPECT_EQ(c->wrapped_root(), now);
  c->Lock();
  COFFRE_ASSERT_OK(c->Unlock(again));
  EXPECT_EQ(keys_->Hmac("rows", "x").value(), c->Hmac("rows", "x").value()) << "one root";
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
