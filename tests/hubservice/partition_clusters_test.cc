// Cluster mode with telemetry partitions spread over two PostgreSQL clusters (two servers of
// the test's own, relaxed durability: no standby): each partition's records land in the
// cluster the map names and read back in order, across a restart; a changed map, or a
// partition's records left in a cluster the map no longer gives it, is refused naming the
// partition and both places; bad entries are refused; and `coffre move-partition` moves a
// partition of an existing store to a new cluster, which the hub then reads back intact.
#include <gtest/gtest.h>

#include "cli/move_partition.h"
#include "hubservice/hub_data_store.h"
#include "hubservice/partition_clusters.h"
#include "pg_server.h"
#include "pgstore/pg_connection.h"
#include "storage/partition_log.h"
#include "test_util.h"

namespace coffre::hubservice {
namespace {

constexpr int kPartitionsInTest = 4;

class PartitionClustersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!main_.available()) GTEST_SKIP() << main_.why_not();
    if (!other_.available()) GTEST_SKIP() << other_.why_not();
  }

  Result<std::unique_ptr<HubDataStore>> Open(std::vector<PartitionCluster> map) {
    HubDataStoreOptions o;
    o.dir = dir_.path();
    o.service_key = &service_key_;
    o.postgres_conninfo = main_.conninfo();
    o.postgres_relaxed_durability = true;  // single servers
    o.partitions = kPartitionsInTest;
    o.hub_name = "hub.example";
    o.partition_clusters = std::move(map);
    return HubDataStore::Open(o);
  }
  std::vector<PartitionCluster> TwoAndThreeInOther() {
    return {{{2, 3}, other_.conninfo()}};
  }

  static std::unique_ptr<storage::PartitionLog> Log(HubDataStore& store, int partition) {
    hub::TelemetryStoreOptions telemetry;
    store.ConfigureTelemetry(telemetry);
    auto log = telemetry.open_log(partition);
    EXPECT_TRUE(log.has_value()) << log.error();
    return log.has_value() ? std::move(*log) : nullptr;
  }
  // `count` records "p<partition>-<n>" appended to the partition, committed.
  static void Append(HubDataStore& store, int partition, int count) {
    auto log = Log(store, partition);
    ASSERT_NE(log, nullptr);
    const uint64_t start = log->next_sequence();
    std::vector<std::string> payloads;
    for (int i = 0; i < count; ++i) {
      payloads.push_back("p" + std::to_string(partition) + "-" + std::to_string(start + i));
    }
    std::vector<storage::LogRecord> records;
    for (int i = 0; i < count; ++i) {
      records.push_back({start + i, 1000 + static_cast<int64_t>(start) + i, AsBytes(payloads[i]), {}});
    }
    ASSERT_TRUE(log->Append(records).ok());
    ASSERT_TRUE(log->Sync().ok());
  }
  static std::vector<std::string> ReadAll(HubDataStore& store, int partition) {
    auto log = Log(store, partition);
    std::vector<std::string> out;
    if (log == nullptr) return out;
    auto read = log->Read(log->first_sequence(), 1000, SIZE_MAX);
    EXPECT_TRUE(read.has_value()) << read.error();
    if (!read.has_value()) return out;
    for (const storage::StoredRecord& r : *read) {
      out.push_back(std::string(AsChars(r.payload)));
      EXPECT_EQ(r.sequence, out.size() - 1);  // in order, from 0
    }
    return out;
  }
  static std::vector<std::string> Expected(int partition, int count) {
    std::vector<std::string> out;
    for (int i = 0; i < count; ++i) out.push_back("p" + std::to_string(partition) + "-" + std::to_string(i));
    return out;
  }
  // coffre_records' rows of `partition` in `server` (0 where it has none, or no table).
  static int RowsIn(const testing::PgServer& server, int partition) {
    auto db = pgstore::PgConnection::Connect(server.conninfo()).value();
    auto rows = db->Exec("SELECT CASE WHEN to_regclass('coffre_records') IS NULL THEN 0 ELSE "
                         "(SELECT count(*) FROM coffre_records WHERE partition = $1) END",
                         {pgstore::PgParam::Int(partition)});
    EXPECT_TRUE(rows.has_value()) << rows.error();
    return rows.has_value() ? std::stoi(rows->Value(0, 0)) : -1;
  }

  testing::PgServer main_;
  testing::PgServer other_;
  coffre::testing::TempDir dir_;
  crypto::SecretBytes service_key_ = crypto::SecretBytes::Random(32).value();
};

TEST_F(PartitionClustersTest, EachPartitionLandsInItsClusterAndReadsBackAfterARestart) {
  {
    auto store = Open(TwoAndThreeInOther());
    ASSERT_TRUE(store.has_value()) << store.error();
    for (int p = 0; p < kPartitionsInTest; ++p) Append(**store, p, 3 + p);
    for (int p = 0; p < kPartitionsInTest; ++p) EXPECT_EQ(ReadAll(**store, p), Expected(p, 3 + p));
  }
  EXPECT_EQ(RowsIn(main_, 0), 3);
  EXPECT_EQ(RowsIn(main_, 1), 4);
  EXPECT_EQ(RowsIn(main_, 2), 0);
  EXPECT_EQ(RowsIn(main_, 3), 0);
  EXPECT_EQ(RowsIn(other_, 0), 0);
  EXPECT_EQ(RowsIn(other_, 1), 0);
  EXPECT_EQ(RowsIn(other_, 2), 5);
  EXPECT_EQ(RowsIn(other_, 3), 6);

  auto again = Open(TwoAndThreeInOther());  // a restart with the same map
  ASSERT_TRUE(again.has_value()) << again.error();
  for (int p = 0; p < kPartitionsInTest; ++p) EXPECT_EQ(ReadAll(**again, p), Expected(p, 3 + p));
  Append(**again, 2, 1);  // continues where it was
  EXPECT_EQ(ReadAll(**again, 2), Expected(2, 6));
  EXPECT_EQ(RowsIn(other_, 2), 6);
}

TEST_F(PartitionClustersTest, AChangedMapIsRefusedNamingThePartitionAndBothPlaces) {
  {
    auto store = Open(TwoAndThreeInOther());
    ASSERT_TRUE(store.has_value()) << store.error();
    Append(**store, 2, 2);
    Append(**store, 3, 2);
  }
  // Partition 2 back on the main store while its records are in the other cluster.
  auto narrower = Open({{{3}, other_.conninfo()}});
  ASSERT_FALSE(narrower.has_value());
  EXPECT_EQ(narrower.error().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(narrower.error().message().find("telemetry partition 2: the store's map puts it in "
                                            "--postgres-partition-cluster entry 1 (partitions 3)"),
            std::string::npos)
      << narrower.error();
  EXPECT_NE(narrower.error().message().find("this node's map puts it in the main store"),
            std::string::npos)
      << narrower.error();
  EXPECT_NE(narrower.error().message().find("its records are still in"), std::string::npos)
      << narrower.error();

  // No map at all: the cluster holding 2 and 3 is out of this node's reach.
  auto none = Open({});
  ASSERT_FALSE(none.has_value());
  EXPECT_NE(none.error().message().find("telemetry partition 2: the store's map puts it in cluster "),
            std::string::npos)
      << none.error();
  EXPECT_NE(none.error().message().find("does not reach that cluster"), std::string::npos)
      << none.error();

  // The map as recorded still opens, the data intact.
  auto same = Open(TwoAndThreeInOther());
  ASSERT_TRUE(same.has_value()) << same.error();
  EXPECT_EQ(ReadAll(**same, 2), Expected(2, 2));
}

TEST_F(PartitionClustersTest, AClusterOfAnotherStoreIsRefused) {
  {
    auto store = Open(TwoAndThreeInOther());
    ASSERT_TRUE(store.has_value()) << store.error();
  }
  // Another hub, with a main store of its own, listing the same cluster.
  testing::PgServer third;
  ASSERT_TRUE(third.available());
  coffre::testing::TempDir other_dir;
  HubDataStoreOptions o;
  o.dir = other_dir.path();
  o.service_key = &service_key_;
  o.postgres_conninfo = third.conninfo();
  o.postgres_relaxed_durability = true;
  o.partitions = kPartitionsInTest;
  o.hub_name = "other.example";
  o.partition_clusters = {{{1}, other_.conninfo()}};
  auto refused = HubDataStore::Open(o);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message().find("--postgres-partition-cluster entry 1 (partitions 1) "
                                           "belongs to another store (hub 'hub.example'"),
            std::string::npos)
      << refused.error();
  // And the main store listed as a partition cluster.
  auto itself = Open({{{1}, main_.conninfo()}});
  ASSERT_FALSE(itself.has_value());
  EXPECT_NE(itself.error().message().find("is this store's main store"), std::string::npos)
      << itself.error();
}

TEST_F(PartitionClustersTest, BadEntriesAreRefusedNamingTheEntry) {
  auto bad = [](std::string_view text) {
    Result<PartitionCluster> parsed = ParsePartitionCluster(text);
    return parsed.has_value() ? std::string("parsed") : parsed.error().message();
  };
  EXPECT_NE(bad("2,3").find("expects PARTITIONS=CONNINFO"), std::string::npos);
  EXPECT_NE(bad("two=host=b").find("'two' is not a partition number"), std::string::npos);
  EXPECT_NE(bad("3-1=host=b").find("'3-1' is an empty range"), std::string::npos);
  EXPECT_NE(bad("=host=b").find("lists no partition"), std::string::npos);
  auto parsed = ParsePartitionCluster(" 1, 4-6 = host=b dbname=coffre");
  ASSERT_TRUE(parsed.has_value()) << parsed.error();
  EXPECT_EQ(parsed->partitions, (std::vector<int>{1, 4, 5, 6}));
  EXPECT_EQ(parsed->conninfo, "host=b dbname=coffre");

  auto check = [](std::vector<PartitionCluster> map, bool clustered = true) {
    return CheckPartitionClusters(map, kPartitionsInTest, clustered).message();
  };
  EXPECT_EQ(check({{{4}, "host=b"}}),
            "--postgres-partition-cluster entry 1 (partitions 4): partition 4 does not exist "
            "(the hub has 4: 0 to 3)");
  EXPECT_EQ(check({{{1}, "host=b"}, {{2, 1}, "host=c"}}),
            "--postgres-partition-cluster entry 2 (partitions 2,1): partition 1 is listed twice");
  EXPECT_EQ(check({{{1}, ""}}),
            "--postgres-partition-cluster entry 1 (partitions 1) has no connection string");
  EXPECT_NE(check({{{1}, "host=b password=hunter2"}}).find("no password"), std::string::npos);
  EXPECT_EQ(check({{{1}, "host=b"}}, false),
            "--postgres-partition-cluster needs cluster mode (--postgres-conninfo: the main store)");
  EXPECT_EQ(check({{{0, 3}, "host=b"}}), "");

  // Refused by the store too (HubOptions filled in directly), embedded mode included.
  HubDataStoreOptions o;
  o.dir = dir_.path();
  o.service_key = &service_key_;
  o.partitions = kPartitionsInTest;
  o.partition_clusters = {{{1}, other_.conninfo()}};
  auto embedded = HubDataStore::Open(o);
  ASSERT_FALSE(embedded.has_value());
  EXPECT_NE(embedded.error().message().find("needs cluster mode"), std::string::npos);
  auto out_of_range = Open({{{7}, other_.conninfo()}});
  ASSERT_FALSE(out_of_range.has_value());
  EXPECT_NE(out_of_range.error().message().find("partition 7 does not exist"), std::string::npos);
}

// docs/CLUSTER.md, "Adding a cluster": the steps as written there.
TEST_F(PartitionClustersTest, AddingAClusterMovesAPartitionThatReadsBackIntact) {
  {
    auto store = Open({});  // a store from before the map: everything on the main store
    ASSERT_TRUE(store.has_value()) << store.error();
    for (int p = 0; p < kPartitionsInTest; ++p) Append(**store, p, 5);
  }
  // The map changed before the records moved: refused, nothing written.
  auto early = Open({{{3}, other_.conninfo()}});
  ASSERT_FALSE(early.has_value());
  EXPECT_NE(early.error().message().find("telemetry partition 3: the store's map puts it in the "
                                         "main store (--postgres-conninfo); this node's map puts "
                                         "it in --postgres-partition-cluster entry 1 (partitions "
                                         "3), but its records are still in the main store"),
            std::string::npos)
      << early.error();

  // coffre move-partition --from MAIN --to OTHER --partition 3
  auto moved = cli::MovePartitionCommand({main_.conninfo(), other_.conninfo(), 3});
  ASSERT_TRUE(moved.has_value()) << moved.error();
  EXPECT_NE(moved->find("5 records, 1 batches, 0 gaps copied and checked"), std::string::npos)
      << *moved;
  EXPECT_EQ(RowsIn(main_, 3), 0);
  EXPECT_EQ(RowsIn(other_, 3), 5);
  // Run again (an interrupted move finished): nothing to copy, the source has no partition 3.
  auto twice = cli::MovePartitionCommand({main_.conninfo(), other_.conninfo(), 3});
  ASSERT_FALSE(twice.has_value());
  EXPECT_NE(twice.error().message().find("telemetry partition 3 is not in the source cluster"),
            std::string::npos)
      << twice.error();

  {
    auto store = Open({{{3}, other_.conninfo()}});  // the new map
    ASSERT_TRUE(store.has_value()) << store.error();
    for (int p = 0; p < kPartitionsInTest; ++p) EXPECT_EQ(ReadAll(**store, p), Expected(p, 5));
    Append(**store, 3, 2);  // the chain continues in the new cluster
    EXPECT_EQ(ReadAll(**store, 3), Expected(3, 7));
  }
  EXPECT_EQ(RowsIn(other_, 3), 7);
  EXPECT_EQ(RowsIn(main_, 3), 0);
  // The old map is refused now.
  auto old_map = Open({});
  ASSERT_FALSE(old_map.has_value());
  EXPECT_NE(old_map.error().message().find("telemetry partition 3"), std::string::npos);
}

}  // namespace
}  // namespace coffre::hubservice
