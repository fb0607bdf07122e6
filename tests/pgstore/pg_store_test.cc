// The cluster store's pieces on a real PostgreSQL 15: the infrastructure layer over rows, the
// metadata store, a telemetry partition as the hub writes it, and the durability check.
#include <gtest/gtest.h>

#include <cstring>

#include "crypto/secret_bytes.h"
#include "kv_keys_check.h"
#include "pg_server.h"
#include "pgstore/pg_durability.h"
#include "pgstore/pg_kv_store.h"
#include "pgstore/pg_partition_log.h"
#include "pgstore/pg_row_cipher.h"
#include "pgstore/pg_telemetry_log.h"
#include "pgstore/pg_node_registry.h"
#include "test_util.h"

namespace coffre::pgstore {
namespace {

using coffre::testing::StatusIs;

crypto::SecretBytes Key() { return crypto::SecretBytes::Random(32).value(); }

std::string Text(ByteSpan b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }

TEST(PgRowCipherTest, ARowOpensOnlyWhereItWasSealedUnderItsServiceKey) {
  auto key = Key();
  auto cipher = PgRowCipher::Create(key).value();
  Bytes sealed = cipher->Seal("kv/device/a", AsBytes("secret twin")).value();
  EXPECT_EQ(sealed.size(), kRowOverhead + 11);
  EXPECT_EQ(Text(cipher->Open("kv/device/a", sealed).value()), "secret twin");
  // Moved to another row, changed, or under another service key: DATA_LOSS.
  EXPECT_THAT(cipher->Open("kv/device/b", sealed).status(), StatusIs(StatusCode::kDataLoss));
  Bytes changed = sealed;
  changed[changed.size() / 2] ^= std::byte{1};
  EXPECT_THAT(cipher->Open("kv/device/a", changed).status(), StatusIs(StatusCode::kDataLoss));
  auto other = PgRowCipher::Create(Key()).value();
  EXPECT_THAT(other->Open("kv/device/a", sealed).status(), StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(cipher->Open("kv/device/a", ByteSpan(sealed.data(), 3)).status(),
              StatusIs(StatusCode::kDataLoss));
  // Another cipher of the same service key (another process, another salt) opens it.
  auto again = PgRowCipher::Create(key).value();
  EXPECT_EQ(Text(again->Open("kv/device/a", sealed).value()), "secret twin");
}

class PgStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!server_.available()) GTEST_SKIP() << server_.why_not();
    pool_ = std::move(PgPool::Connect({server_.conninfo(), 4, std::chrono::milliseconds(2000)}).value());
    cipher_ = std::move(PgRowCipher::Create(key_).value());
  }
  // Every value of `table`'s `column` as stored, concatenated.
  std::string Stored(const std::string& table, const std::string& column) {
    std::string all;
    COFFRE_EXPECT_OK(pool_->Run([&](PgConnection& db) -> Status {
      auto rows = db.Exec("SELECT " + column + " FROM " + table);
      if (!rows.has_value()) return rows.error();
      for (auto& row : rows->rows) all += row[0];
      return Status::Ok();
    }));
    return all;
  }

  testing::PgServer server_;
  crypto::SecretBytes key_ = Key();
  std::unique_ptr<PgPool> pool_;
  std::unique_ptr<PgRowCipher> cipher_;
};

TEST_F(PgStoreTest, TheKvStoreKeepsOrderedRowsAndPostgresSeesOnlyCiphertext) {
  auto kv = PgKvStore::Open(*pool_, *cipher_).value();
  COFFRE_ASSERT_OK(kv->Put("device/b", AsBytes("plaintext-marker-b"), true));
  COFFRE_ASSERT_OK(kv->Write({{"device/a", Bytes(AsBytes("plaintext-marker-a").begin(),
                                                   AsBytes("plaintext-marker-a").end()), false},
                              {"device\xff", Bytes(AsBytes("x").begin(), AsBytes("x").end()), false},
                              {"devicf", Bytes(AsBytes("y").begin(), AsBytes("y").end()), false},
                              {"twin/a", Bytes(AsBytes("z").begin(), AsBytes("z").end()), false}},
                             true));
  EXPECT_EQ(Text(kv->Get("device/a").value()), "plaintext-marker-a");
  EXPECT_THAT(kv->Get("device/c").status(), StatusIs(StatusCode::kNotFound));
  std::vector<std::string> keys;
  COFFRE_ASSERT_OK(kv->Scan("device", [&](std::string_view k, ByteSpan) {
    keys.emplace_back(k);
    return true;
  }));
  EXPECT_EQ(keys, (std::vector<std::string>{"device/a", "device/b", "device\xff"}));
  keys.clear();
  COFFRE_ASSERT_OK(kv->Scan("", [&](std::string_view k, ByteSpan) {
    keys.emplace_back(k);
    return keys.size() < 2;  // stops when asked
  }));
  EXPECT_EQ(keys, (std::vector<std::string>{"device/a", "device/b"}));
  COFFRE_ASSERT_OK(kv->Put("head/0", AsBytes("unsynced"), false));  // no wait for the WAL
  COFFRE_ASSERT_OK(kv->Sync());                                     // ...until now
  EXPECT_EQ(Text(kv->Get("head/0").value()), "unsynced");
  COFFRE_ASSERT_OK(kv->Delete("device/b", true));
  EXPECT_THAT(kv->Get("device/b").status(), StatusIs(StatusCode::kNotFound));
  COFFRE_ASSERT_OK(kv->DestroyDeletedData());
  EXPECT_EQ(Stored("coffre_kv", "value").find("plaintext-marker"), std::string::npos);

  // A value copied onto another row by someone with the database does not open there.
  COFFRE_ASSERT_OK(pool_->Run([](PgConnection& db) {
    return db.Exec("UPDATE coffre_kv SET value = (SELECT value FROM coffre_kv WHERE key = "
                   "'device/a'::bytea) WHERE key = 'twin/a'::bytea").status();
  }));
  EXPECT_THAT(kv->Get("twin/a").status(), StatusIs(StatusCode::kDataLoss));
}

// Keys in a transaction lists a prefix with one statement on its connection, the values opened
// with it (a row removed on another connection after the listing still reads as listed).
TEST_F(PgStoreTest, KeysInATransactionListAPrefixWithItsOwnWrites) {
  coffre::testing::ExpectKeysListAPrefix(*PgKvStore::Open(*pool_, *cipher_).value());
}

TEST_F(PgStoreTest, ASnapshotReadsOneMomentWhileWritesGoOn) {
  auto kv = PgKvStore::Open(*pool_, *cipher_).value();
  COFFRE_ASSERT_OK(kv->Put("row/a", AsBytes("before"), true));
  auto snapshot = kv->Snapshot().value();
  COFFRE_ASSERT_OK(kv->Put("row/a", AsBytes("after"), true));
  COFFRE_ASSERT_OK(kv->Put("row/b", AsBytes("new"), true));
  EXPECT_EQ(Text(snapshot->Get("row/a").value()), "before");
  EXPECT_THAT(snapshot->Get("row/b").status(), StatusIs(StatusCode::kNotFound));
  int rows = 0;
  COFFRE_ASSERT_OK(snapshot->Scan("row/", [&](std::string_view, ByteSpan) { return ++rows > 0; }));
  EXPECT_EQ(rows, 1);
  EXPECT_THAT(snapshot->Put("row/c", AsBytes("x"), true), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_EQ(Text(kv->Get("row/a").value()), "after");
}

TEST_F(PgStoreTest, ATelemetryPartitionCommitsBatchesKeepsItsStateAndRefusesASecondWriter) {
  // Blocks of 2 records, so that retention has whole blocks to drop.
  COFFRE_ASSERT_OK(pool_->Run([](PgConnection& db) { return PgPartitionLog::Create(db, 2, 2); }));
  auto log = PgTelemetryLog::Open(*pool_, *cipher_, 1).value();
  EXPECT_EQ(log->next_sequence(), 0u);
  std::string body = "plaintext-telemetry";
  std::vector<storage::LogRecord> batch;
  for (uint64_t i = 0; i < 3; ++i) {
    storage::LogRecord r;
    r.sequence = i;
    r.time_ms = 1000 * static_cast<int64_t>(i + 1);
    r.payload = AsBytes(body);
    r.link[0] = static_cast<std::byte>(i + 7);
    batch.push_back(r);
  }
  COFFRE_ASSERT_OK(log->Append(batch));
  EXPECT_EQ(log->durable_sequence(), 0u);  // staged, not committed
  EXPECT_EQ(log->Read(0, 10, SIZE_MAX).value().size(), 0u);
  COFFRE_ASSERT_OK(log->Sync());
  EXPECT_EQ(log->durable_sequence(), 3u);
  auto read = log->Read(1, 10, SIZE_MAX).value();
  ASSERT_EQ(read.size(), 2u);
  EXPECT_EQ(read[0].sequence, 1u);
  EXPECT_EQ(read[0].time_ms, 2000);
  EXPECT_EQ(read[0].link[0], std::byte{8});
  EXPECT_TRUE(read[0].linked);
  EXPECT_EQ(Text(read[1].payload), body);
  EXPECT_EQ(log->SeekTime(1500).value(), 1u);
  EXPECT_EQ(log->SeekTime(9000).value(), 3u);
  EXPECT_THAT(log->Read(4, 1, SIZE_MAX).status(), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_EQ(Stored("coffre_records", "encode(record, 'escape')").find(body), std::string::npos);

  // Opened again (a restart): where it was. A second writer of the same partition that
  // starts from an older view is refused, and writes nothing.
  auto again = PgTelemetryLog::Open(*pool_, *cipher_, 1).value();
  EXPECT_EQ(again->durable_sequence(), 3u);
  EXPECT_EQ(again->last_time_ms(), 3000);
  batch.resize(1);
  batch[0].sequence = 3;
  batch[0].time_ms = 4000;
  COFFRE_ASSERT_OK(again->Append(batch));
  COFFRE_ASSERT_OK(again->Sync());
  batch[0].time_ms = 5000;
  COFFRE_ASSERT_OK(log->Append(batch));
  EXPECT_THAT(log->Sync(), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_EQ(again->Read(3, 10, SIZE_MAX).value().front().time_ms, 4000);

  // Records acknowledged once but missing are a gap, kept across a restart.
  COFFRE_ASSERT_OK(again->ResumeAt(again->next_sequence()));
  auto other = PgTelemetryLog::Open(*pool_, *cipher_, 0).value();
  COFFRE_ASSERT_OK(other->ResumeAt(5));
  EXPECT_EQ(PgTelemetryLog::Open(*pool_, *cipher_, 0).value()->gaps().size(), 1u);

  // Retention drops whole blocks (tables), never the one holding the newest record.
  auto block_exists = [&](const std::string& name) {
    bool exists = false;
    COFFRE_EXPECT_OK(pool_->Run([&](PgConnection& db) -> Status {
      auto rows = db.Exec("SELECT to_regclass($1) IS NOT NULL", {PgParam::Text(name)});
      if (!rows.has_value()) return rows.error();
      exists = rows->Value(0, 0) == "t";
      return Status::Ok();
    }));
    return exists;
  };
  EXPECT_EQ(again->FirstSequenceAfterExpiry(2500), 2u);  // records 0 and 1: block 0
  EXPECT_EQ(again->ExpireBefore(2500).value(), 1u);
  EXPECT_EQ(again->first_sequence(), 2u);
  EXPECT_FALSE(block_exists("coffre_records_p1_b0"));
  EXPECT_EQ(again->ExpireBefore(999999).value(), 0u);  // block 1 holds record 3, the newest
  EXPECT_EQ(again->first_sequence(), 2u);
  batch[0].sequence = 4;
  batch[0].time_ms = 6000;
  COFFRE_ASSERT_OK(again->Append(batch));
  COFFRE_ASSERT_OK(again->Sync());
  EXPECT_EQ(again->ExpireBefore(999999).value(), 1u);  // now block 1 goes, block 2 stays
  EXPECT_EQ(again->first_sequence(), 4u);
  EXPECT_FALSE(block_exists("coffre_records_p1_b1"));
  EXPECT_TRUE(block_exists("coffre_records_p1_b2"));
  EXPECT_EQ(again->Read(4, 10, SIZE_MAX).value().size(), 1u);
  EXPECT_THAT(again->Read(3, 10, SIZE_MAX).status(), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_EQ(PgTelemetryLog::Open(*pool_, *cipher_, 1).value()->first_sequence(), 4u);
}

// Sync() and synced writes wait for the synchronous standby; unsynced writes do not. A standby
// named that never comes makes every synchronous commit wait: Sync() runs into its deadline.
TEST_F(PgStoreTest, SyncWaitsForTheStandbyAndAnUnsyncedWriteDoesNot) {
  auto kv = PgKvStore::Open(*pool_, *cipher_).value();
  COFFRE_ASSERT_OK(pool_->Run([](PgConnection& db) -> Status {
    COFFRE_RETURN_IF_ERROR(db.Exec("ALTER SYSTEM SET synchronous_standby_names = 'ghost'").status());
    return db.Exec("SELECT pg_reload_conf()").status();
  }));
  auto waiting = PgPool::Connect({server_.conninfo(), 2, std::chrono::milliseconds(300),
                                  std::chrono::milliseconds(400)}).value();
  auto waiting_kv = PgKvStore::Open(*waiting, *cipher_).value();
  COFFRE_ASSERT_OK(waiting_kv->Put("soft", AsBytes("not waited for"), /*sync=*/false));
  EXPECT_THAT(waiting_kv->Sync(), StatusIs(StatusCode::kUnavailable));
  EXPECT_THAT(waiting_kv->Put("hard", AsBytes("waits"), /*sync=*/true),
              StatusIs(StatusCode::kUnavailable));
}

TEST_F(PgStoreTest, ASingleServerIsNotQuorumDurableAndIsRefusedUnlessRelaxed) {
  COFFRE_ASSERT_OK(pool_->Run([](PgConnection& db) -> Status {
    auto shortfall = DurabilityShortfall(db);
    if (!shortfall.has_value()) return shortfall.error();
    EXPECT_NE(shortfall->find("synchronous_standby_names is empty"), std::string::npos) << *shortfall;
    EXPECT_THAT(CheckDurability(db, false), StatusIs(StatusCode::kFailedPrecondition));
    return CheckDurability(db, true);
  }));
}

// Hub nodes register on the store: each is live while its connection holds its lock, a
// second process with the same node id is refused, and a node whose connection closes (it
// died) is no longer listed.
TEST_F(PgStoreTest, NodesAreLiveWhileTheirLockIsHeldAndOneIdRunsOnce) {
  auto a = PgNodeRegistry::Register(*pool_, "00000000000000aa", "pid 1 on a");
  ASSERT_TRUE(a.has_value()) << a.error().message();
  auto other_pool = PgPool::Connect({server_.conninfo(), 2, std::chrono::milliseconds(500)}).value();
  auto b = PgNodeRegistry::Register(*other_pool, "00000000000000bb", "pid 2 on b").value();
  auto live = (*a)->LiveNodes();
  ASSERT_TRUE(live.has_value()) << live.error().message();
  ASSERT_EQ(live->size(), 2u);
  EXPECT_EQ((*live)[0].node_id, "00000000000000aa");
  EXPECT_EQ((*live)[1].about, "pid 2 on b");
  auto twin = PgNodeRegistry::Register(*other_pool, "00000000000000aa", "pid 3 on a");
  ASSERT_FALSE(twin.has_value());
  EXPECT_EQ(twin.error().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(twin.error().message().find("already running"), std::string::npos);
  a->reset();  // its connection closes: no longer live, and its id is free again
  live = b->LiveNodes();
  ASSERT_TRUE(live.has_value());
  ASSERT_EQ(live->size(), 1u);
  EXPECT_EQ(live->front().node_id, "00000000000000bb");
  EXPECT_TRUE(PgNodeRegistry::Register(*pool_, "00000000000000aa", "pid 4 on a").has_value());
  // A fenced pool refuses every statement.
  other_pool->Fence("taken");
  EXPECT_THAT(other_pool->Run([](PgConnection&) { return Status::Ok(); }),
              StatusIs(StatusCode::kFailedPrecondition));
}

TEST_F(PgStoreTest, AStatementWithoutAnAnswerDropsItsConnectionInsteadOfHanging) {
  auto db = PgConnection::Connect(server_.conninfo(), std::chrono::milliseconds(200)).value();
  // Answered, it would be OK: UNAVAILABLE is the deadline.
  EXPECT_THAT(db->Exec("SELECT pg_sleep(3)").status(), StatusIs(StatusCode::kUnavailable));
  EXPECT_FALSE(db->idle());
  EXPECT_THAT(db->Exec("SELECT 1").status(), StatusIs(StatusCode::kUnavailable));
  // A pool drops such a connection and goes on with a new one.
  auto pool = PgPool::Connect({server_.conninfo(), 1, std::chrono::milliseconds(100),
                               std::chrono::milliseconds(200)}).value();
  int tries = 0;
  EXPECT_THAT(pool->Run([&](PgConnection& c) {
    ++tries;
    return c.Exec("SELECT pg_sleep(1)").status();
  }), StatusIs(StatusCode::kUnavailable));
  EXPECT_GE(tries, 1);
  COFFRE_EXPECT_OK(pool->Run([](PgConnection& c) { return c.Exec("SELECT 1").status(); }));
}

TEST_F(PgStoreTest, AWrongConnectionStringFailsAtOnceWithoutTheSecret) {
  auto pool = PgPool::Connect({server_.conninfo() + " password=hunter2 dbname=nosuchdb", 1,
                               std::chrono::milliseconds(100)});
  ASSERT_FALSE(pool.has_value());
  EXPECT_EQ(pool.error().message().find("hunter2"), std::string::npos) << pool.error().message();
}

}  // namespace
}  // namespace coffre::pgstore
