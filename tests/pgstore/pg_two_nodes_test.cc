// Two hub nodes' stores on one PostgreSQL database, as cluster mode will run them: each node
// has its own pool and its own row cipher (same service key), and what one reads, modifies and
// writes the other never overwrites. Threads on both sides race on the same rows.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <set>
#include <thread>

#include "crypto/secret_bytes.h"
#include "pg_server.h"
#include "pg_store_node.h"
#include "pgstore/pg_kv_store.h"
#include "pgstore/pg_partition_log.h"
#include "pgstore/pg_row_cipher.h"
#include "storage/kv_data_key_store.h"
#include "test_util.h"

namespace coffre::pgstore {
namespace {

using coffre::testing::StatusIs;

constexpr int kThreadsPerNode = 4;

using Node = testing::PgStoreNode;  // a pool of 4 connections: one per thread

class PgTwoNodesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!server_.available()) GTEST_SKIP() << server_.why_not();
    a_ = std::make_unique<Node>(server_.conninfo(), key_);
    b_ = std::make_unique<Node>(server_.conninfo(), key_);
  }
  // Runs fn(node, thread) on kThreadsPerNode threads of each node at once.
  void OnBothNodes(const std::function<void(Node&, int)>& fn) {
    std::vector<std::thread> threads;
    for (Node* node : {a_.get(), b_.get()}) {
      for (int t = 0; t < kThreadsPerNode; ++t) threads.emplace_back([&, node, t] { fn(*node, t); });
    }
    for (auto& t : threads) t.join();
  }

  testing::PgServer server_;
  crypto::SecretBytes key_ = crypto::SecretBytes::Random(32).value();
  std::unique_ptr<Node> a_, b_;
};

uint64_t Counter(storage::KvTxn& txn, std::string_view key) {
  Result<Bytes> v = txn.Get(key);
  return v.has_value() ? GetU64(v->data()) : 0;
}

TEST_F(PgTwoNodesTest, ReadModifyWriteInATransactionLosesNoUpdate) {
  constexpr int kRounds = 40;
  OnBothNodes([&](Node& node, int) {
    for (int i = 0; i < kRounds; ++i) {
      COFFRE_EXPECT_OK(node.kv->Transact({"counter"}, [&](storage::KvTxn& txn) {
        std::byte next[8];
        PutU64(next, Counter(txn, "counter") + 1);
        txn.Put("counter", next);
        EXPECT_EQ(GetU64(txn.Get("counter")->data()), GetU64(next));  // reads its own write
        return Status::Ok();
      }, i % 2 == 0));
    }
  });
  EXPECT_EQ(GetU64(a_->kv->Get("counter")->data()), 2u * kThreadsPerNode * kRounds);

  // A transaction that declines writes nothing, and its error comes back as it was (never
  // retried, even UNAVAILABLE, which the pool retries for a lost connection).
  int runs = 0;
  EXPECT_THAT(b_->kv->Transact({"counter"}, [&](storage::KvTxn& txn) {
    ++runs;
    txn.Put("counter", AsBytes("garbage!"));
    return Unavailable("the caller's own reason");
  }, true), StatusIs(StatusCode::kUnavailable));
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(GetU64(a_->kv->Get("counter")->data()), 2u * kThreadsPerNode * kRounds);
}

// Rows numbered inside a transaction that locks their prefix and lists it (the next number is
// the last listed + 1, as a device's C2D queue numbers its messages): each number once.
TEST_F(PgTwoNodesTest, RowsNumberedFromAListingUnderAPrefixLockAreNeverNumberedTwice) {
  constexpr int kRounds = 10;
  OnBothNodes([&](Node& node, int) {
    for (int i = 0; i < kRounds; ++i) {
      COFFRE_EXPECT_OK(node.kv->Transact({"q/"}, [&](storage::KvTxn& txn) -> Status {
        COFFRE_ASSIGN_OR_RETURN(std::vector<std::string> rows, txn.Keys("q/"));
        uint64_t next = rows.empty() ? 1 : std::stoull(rows.back().substr(2)) + 1;
        char name[32];
        std::snprintf(name, sizeof name, "q/%08llu", static_cast<unsigned long long>(next));
        txn.Put(name, AsBytes(&node == a_.get() ? "a" : "b"));
        return Status::Ok();
      }, false));
    }
  });
  std::vector<std::string> rows;
  COFFRE_ASSERT_OK(b_->kv->Scan("q/", [&](std::string_view key, ByteSpan) {
    rows.emplace_back(key);
    return true;
  }));
  ASSERT_EQ(rows.size(), 2u * kThreadsPerNode * kRounds);
  EXPECT_EQ(rows.back(), "q/00000080");
}

TEST_F(PgTwoNodesTest, PutIfAbsentHasExactlyOneWinnerPerRow) {
  constexpr int kRows = 25;
  std::atomic<int> won[kRows] = {};
  OnBothNodes([&](Node& node, int thread) {
    for (int r = 0; r < kRows; ++r) {
      std::string value = (&node == a_.get() ? "a" : "b") + std::to_string(thread);
      Status put = node.kv->PutIfAbsent("row/" + std::to_string(r), AsBytes(value), true);
      if (put.ok()) {
        ++won[r];
      } else {
        EXPECT_THAT(put, StatusIs(StatusCode::kAlreadyExists));
      }
    }
  });
  for (int r = 0; r < kRows; ++r) EXPECT_EQ(won[r].load(), 1) << "row " << r;
}

TEST_F(PgTwoNodesTest, DataKeyEpochsAreNeverHandedOutTwiceNorWrappedKeysReplaced) {
  storage::KvDataKeyStore keys_a(*a_->kv), keys_b(*b_->kv);
  constexpr int kRounds = 15;
  std::mutex mu;
  std::vector<uint64_t> epochs;
  OnBothNodes([&](Node& node, int) {
    storage::KvDataKeyStore& keys = &node == a_.get() ? keys_a : keys_b;
    for (int i = 0; i < kRounds; ++i) {
      Result<uint64_t> epoch = keys.ReserveEpoch(7);
      ASSERT_TRUE(epoch.has_value()) << epoch.error().message();
      std::lock_guard<std::mutex> lock(mu);
      epochs.push_back(*epoch);
    }
  });
  std::set<uint64_t> distinct(epochs.begin(), epochs.end());
  EXPECT_EQ(distinct.size(), epochs.size());
  EXPECT_EQ(*distinct.rbegin(), epochs.size());

  // Both nodes store a key under one id: the first stays, the second is refused.
  crypto::DataKeyId id{7, 1};
  COFFRE_ASSERT_OK(keys_a.PutWrapped(id, AsBytes("wrapped by a")));
  EXPECT_THAT(keys_b.PutWrapped(id, AsBytes("wrapped by b")), StatusIs(StatusCode::kAlreadyExists));
  EXPECT_EQ(AsChars(keys_b.GetWrapped(id).value()), "wrapped by a");
}

TEST_F(PgTwoNodesTest, NodesSettingUpANewDatabaseAtOnceAllSucceed) {
  for (int round = 0; round < 5; ++round) {
    COFFRE_ASSERT_OK(a_->pool->Run([](PgConnection& db) -> Status {
      COFFRE_RETURN_IF_ERROR(db.Exec("DROP SCHEMA public CASCADE").status());
      return db.Exec("CREATE SCHEMA public").status();
    }));
    OnBothNodes([&](Node& node, int) {
      COFFRE_EXPECT_OK(PgKvStore::Open(*node.pool, *node.cipher).status());
      COFFRE_EXPECT_OK(node.pool->Run([](PgConnection& db) { return PgPartitionLog::Create(db, 4); }));
    });
  }
  COFFRE_EXPECT_OK(a_->kv->Put("still", AsBytes("works"), true));
  EXPECT_EQ(AsChars(b_->kv->Get("still").value()), "works");
}

}  // namespace
}  // namespace coffre::pgstore
