// Cluster mode's telemetry partitions on a real PostgreSQL 15: concurrent batches get dense
// sequence ranges in commit order, a tailing reader never meets a gap, a retried batch id
// writes nothing twice, and what was written reads back byte for byte.
#include "pgstore/pg_partition_log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <map>
#include <thread>

#include "pg_server.h"
#include "test_util.h"

namespace coffre::pgstore {
namespace {

class PgPartitionLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!server_.available()) GTEST_SKIP() << server_.why_not();
    db_ = std::move(PgConnection::Connect(server_.conninfo()).value());
    COFFRE_ASSERT_OK(PgPartitionLog::Create(*db_, 2));
  }
  static Bytes Record(int writer, int batch, int i) {
    std::string text = std::to_string(writer) + "/" + std::to_string(batch) + "/" + std::to_string(i);
    Bytes b(text.size() + 1);
    std::memcpy(b.data(), text.data(), text.size());
    b.back() = std::byte{0};  // a zero byte too: bytea, not text
    return b;
  }

  testing::PgServer server_;
  std::unique_ptr<PgConnection> db_;
};

TEST_F(PgPartitionLogTest, ConcurrentBatchesAreDenseInCommitOrderAndAReaderNeverMeetsAGap) {
  constexpr int kWriters = 4, kBatches = 25, kPerBatch = 8;
  std::atomic<bool> writing{true};
  std::atomic<int> gaps{0};
  std::atomic<uint64_t> seen{0};
  // The reader tails partition 0: whatever End() says is there must all be readable, in order.
  std::thread reader([&] {
    auto conn = PgConnection::Connect(server_.conninfo()).value();
    PgPartitionLog log(*conn);
    uint64_t next = 0;
    while (writing || next < static_cast<uint64_t>(kWriters * kBatches * kPerBatch)) {
      uint64_t end = log.End(0).value();
      auto records = log.Read(0, next, 10'000).value();
      for (const PgRecord& r : records) {
        if (r.sequence != next) ++gaps;
        next = r.sequence + 1;
      }
      if (next < end) ++gaps;  // End() promised records the read did not show
      seen = next;
      if (!writing && records.empty() && next >= end) break;
    }
  });
  std::map<uint64_t, int> batch_sizes;
  std::mutex mu;
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      auto conn = PgConnection::Connect(server_.conninfo()).value();
      PgPartitionLog log(*conn);
      for (int b = 0; b < kBatches; ++b) {
        std::vector<Bytes> batch;
        for (int i = 0; i < kPerBatch; ++i) batch.push_back(Record(w, b, i));
        uint64_t first =
            log.Append(0, "w" + std::to_string(w) + "-b" + std::to_string(b), batch).value();
        std::lock_guard lock(mu);
        batch_sizes[first] = kPerBatch;
      }
    });
  }
  for (auto& t : writers) t.join();
  writing = false;
  reader.join();
  EXPECT_EQ(gaps.load(), 0);
  EXPECT_EQ(seen.load(), static_cast<uint64_t>(kWriters * kBatches * kPerBatch));
  // Every batch got its own contiguous range, and together they cover 0..N without holes.
  uint64_t expect = 0;
  for (const auto& [first, n] : batch_sizes) {
    EXPECT_EQ(first, expect);
    expect += static_cast<uint64_t>(n);
  }
  PgPartitionLog log(*db_);
  EXPECT_EQ(log.End(0).value(), expect);
  EXPECT_EQ(log.End(1).value(), 0u) << "the other partition is untouched";
  // Each batch's records are in its own order within its range.
  auto all = log.Read(0, 0, 100'000).value();
  ASSERT_EQ(all.size(), expect);
  for (const auto& [first, n] : batch_sizes) {
    std::string head(reinterpret_cast<const char*>(all[first].record.data()));
    std::string writer_batch = head.substr(0, head.rfind('/'));
    for (int i = 0; i < n; ++i) {
      EXPECT_EQ(std::string(reinterpret_cast<const char*>(all[first + i].record.data())),
                writer_batch + "/" + std::to_string(i));
    }
  }
}

TEST_F(PgPartitionLogTest, ARetriedBatchIdReturnsItsRangeAndWritesNothingAgain) {
  PgPartitionLog log(*db_);
  std::vector<Bytes> batch = {Record(0, 0, 0), Record(0, 0, 1)};
  COFFRE_ASSERT_OK_AND_ASSIGN(uint64_t first, log.Append(1, "batch-a", batch));
  COFFRE_ASSERT_OK_AND_ASSIGN(uint64_t again, log.Append(1, "batch-a", batch));
  EXPECT_EQ(again, first);
  EXPECT_EQ(log.End(1).value(), 2u);
  COFFRE_ASSERT_OK_AND_ASSIGN(uint64_t next, log.Append(1, "batch-b", {Record(0, 1, 0)}));
  EXPECT_EQ(next, 2u);
  // The same id for another batch is refused, not taken for a retry.
  EXPECT_FALSE(log.Append(1, "batch-a", {Record(9, 9, 9)}).has_value());
  EXPECT_FALSE(log.Append(0, "batch-a", batch).has_value());
  EXPECT_FALSE(log.Append(7, "batch-c", batch).has_value()) << "no partition 7";
  EXPECT_FALSE(log.Append(1, "batch-d", std::vector<Bytes>{}).has_value());
  auto records = log.Read(1, 0, 10).value();
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[1].record, batch[1]);
  EXPECT_EQ(log.Read(1, 3, 10).value().size(), 0u);
}

TEST(PgConnectionTest, NoServerIsUnavailableNotACrash) {
  EXPECT_EQ(PgConnection::Connect("host=127.0.0.1 port=1 user=coffre connect_timeout=2").status().code(),
            StatusCode::kUnavailable);
}

}  // namespace
}  // namespace coffre::pgstore
