// KvStore's read-modify-write on the embedded store (RocksDB, one process): transactions on one
// key run one after the other, so no update is lost; PutIfAbsent has one winner; a declined
// transaction writes nothing. (tests/pgstore/pg_two_nodes_test.cc: the same across two nodes.)
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "kv_keys_check.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"

namespace coffre::storage {
namespace {

using coffre::testing::StatusIs;

TEST(KvTransactTest, ConcurrentReadModifyWritesOfOneKeyLoseNothing) {
  coffre::testing::TempDir dir;
  auto kv = std::move(RocksKvStore::Open(dir.path() / "meta").value());
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        // Two keys, named in either order: no deadlock.
        std::vector<std::string> locks = t % 2 ? std::vector<std::string>{"x", "y"}
                                               : std::vector<std::string>{"y", "x"};
        COFFRE_EXPECT_OK(kv->Transact(locks, [&](KvTxn& txn) {
          Result<Bytes> old = txn.Get("x");
          uint64_t n = old.has_value() ? GetU64(old->data()) : 0;
          std::byte next[8];
          PutU64(next, n + 1);
          txn.Put("x", next);
          txn.Put("y", next);
          return Status::Ok();
        }, false));
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(GetU64(kv->Get("x")->data()), 800u);
  EXPECT_EQ(GetU64(kv->Get("y")->data()), 800u);

  EXPECT_THAT(kv->Transact({"x"}, [](KvTxn& txn) {
    txn.Delete("x");
    EXPECT_THAT(txn.Get("x").status(), StatusIs(StatusCode::kNotFound));
    return InvalidArgument("declined");
  }, true), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_EQ(GetU64(kv->Get("x")->data()), 800u);
}

TEST(KvTransactTest, KeysListAPrefixWithTheTransactionsOwnWrites) {
  coffre::testing::TempDir dir;
  auto kv = std::move(RocksKvStore::Open(dir.path() / "meta").value());
  coffre::testing::ExpectKeysListAPrefix(*kv);
}

TEST(KvTransactTest, PutIfAbsentHasOneWinner) {
  coffre::testing::TempDir dir;
  auto kv = std::move(RocksKvStore::Open(dir.path() / "meta").value());
  std::atomic<int> won{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::string value = "thread " + std::to_string(t);
      if (kv->PutIfAbsent("row", AsBytes(value), true).ok()) ++won;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(won.load(), 1);
  EXPECT_THAT(kv->PutIfAbsent("row", AsBytes("late"), true), StatusIs(StatusCode::kAlreadyExists));
  EXPECT_EQ(AsChars(kv->Get("row").value()).substr(0, 7), "thread ");
}

}  // namespace
}  // namespace coffre::storage
