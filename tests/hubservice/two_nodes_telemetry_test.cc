// Two hub nodes writing the same telemetry partitions of one PostgreSQL database, as cluster
// mode runs them: each node its own pool, row cipher, keys and TelemetryStore. Every batch is
// sealed for the place it gets under the partition's lock, so both nodes' records form one
// chain: dense sequences, enqueued times that never go back, each message once, a head that
// ends where the log does, and nothing a third node's check or verification calls a break. A
// node also sees the other's records: its long polls wake, its reads reach them, and a node
// starting while the other writes finds nothing missing.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <map>
#include <thread>

#include "fakes/fake_key_provider.h"
#include "hub/hub_keys.h"
#include "hub/telemetry_store.h"
#include "pg_server.h"
#include "pg_store_node.h"
#include "pgstore/pg_partition_log.h"
#include "pgstore/pg_telemetry_log.h"
#include "test_util.h"

namespace coffre::hub {
namespace {

constexpr int kPartitions = 2;

struct Node : testing::PgStoreNode {
  Node(const std::string& conninfo, const crypto::SecretBytes& service_key,
       crypto::KeyProvider& provider, const std::string& node_id, const std::filesystem::path& dir)
      : PgStoreNode(conninfo, service_key) {
    keys = std::move(HubKeys::Open(*kv, provider).value());
    keys->row_digests().UseShard(node_id);
    TelemetryStoreOptions options;
    options.hub_name = "hub.example";
    options.partitions = kPartitions;
    options.open_log = [this](int partition) -> Result<std::unique_ptr<storage::PartitionLog>> {
      COFFRE_ASSIGN_OR_RETURN(auto log, pgstore::PgTelemetryLog::Open(*pool, *cipher, partition));
      return std::unique_ptr<storage::PartitionLog>(std::move(log));
    };
    store = std::move(TelemetryStore::Open(dir, *keys, *kv, options).value());
  }
  std::unique_ptr<HubKeys> keys;
  std::unique_ptr<TelemetryStore> store;
};

TelemetryMessage Message(const std::string& device, const std::string& body, int64_t time_ms) {
  TelemetryMessage m;
  m.device_id = device;
  m.enqueued_ms = time_ms;
  m.body = Bytes(reinterpret_cast<const std::byte*>(body.data()),
                 reinterpret_cast<const std::byte*>(body.data()) + body.size());
  return m;
}

std::string Body(const StoredMessage& m) {
  return std::string(reinterpret_cast<const char*>(m.message.body.data()), m.message.body.size());
}

class TwoNodesTelemetryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!server_.available()) GTEST_SKIP() << server_.why_not();
    auto pool = pgstore::PgPool::Connect({server_.conninfo(), 1}).value();
    COFFRE_ASSERT_OK(pool->Run([](pgstore::PgConnection& db) {
      return pgstore::PgPartitionLog::Create(db, kPartitions, 64);  // small blocks
    }));
  }
  std::unique_ptr<Node> Start(const std::string& node_id) {
    return std::make_unique<Node>(server_.conninfo(), service_key_, provider_, node_id,
                                  dir_.path() / node_id);
  }
  // Every message of a partition, as a node reads it.
  static std::vector<StoredMessage> ReadAll(TelemetryStore& store, int partition) {
    std::vector<StoredMessage> all;
    uint64_t from = store.begin_sequence(partition);
    while (from < store.end_sequence(partition)) {
      auto read = store.Read(partition, from, 500, SIZE_MAX);
      EXPECT_TRUE(read.has_value()) << read.error().message();
      if (!read.has_value() || read->empty()) break;
      from = read->back().sequence + 1;
      for (auto& m : *read) all.push_back(std::move(m));
    }
    return all;
  }

  testing::PgServer server_;
  testing::TempDir dir_;
  crypto::SecretBytes service_key_ = crypto::SecretBytes::Random(32).value();
  testing::FakeKeyProvider provider_;
};

TEST_F(TwoNodesTelemetryTest, BothNodesWritingAPartitionMakeOneChainOfEveryMessageOnce) {
  auto a = Start("00000000000000aa");
  auto b = Start("00000000000000bb");
  // Each node writes 150 batches of 1-5 messages to partition 0, at once; node a's clock runs
  // a minute ahead of b's, so b's messages must be moved forward in time to follow a's.
  constexpr int kBatches = 150;
  std::atomic<int> failed{0};
  auto write = [&](Node& node, const std::string& name, int64_t clock_ms) {
    for (int i = 0; i < kBatches; ++i) {
      std::vector<TelemetryMessage> batch;
      for (int j = 0; j <= i % 5; ++j) {
        batch.push_back(Message(name, name + "-" + std::to_string(i) + "-" + std::to_string(j),
                                clock_ms + i));
      }
      Status done = node.store->Append(0, batch).status();
      if (done.ok()) done = node.store->Commit(0);
      if (!done.ok()) {
        ADD_FAILURE() << name << " batch " << i << ": " << done.message();
        ++failed;
      }
    }
  };
  const int64_t now = 1'800'000'000'000;
  std::thread on_b([&] { write(*b, "b", now); });
  write(*a, "a", now + 60'000);
  on_b.join();
  ASSERT_EQ(failed.load(), 0);

  // A third node reads one chain holding each message once, in each node's order.
  auto c = Start("00000000000000cc");
  const uint64_t total = 2 * (kBatches / 5) * (1 + 2 + 3 + 4 + 5);
  EXPECT_EQ(c->store->end_sequence(0), total);
  std::vector<StoredMessage> all = ReadAll(*c->store, 0);
  ASSERT_EQ(all.size(), total);
  std::map<std::string, int> seen;
  std::map<std::string, std::pair<int, int>> last_of;  // node -> (batch, message)
  int64_t time = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].sequence, i);
    EXPECT_GE(all[i].message.enqueued_ms, time) << "at " << i;
    time = all[i].message.enqueued_ms;
    std::string body = Body(all[i]);
    EXPECT_EQ(++seen[body], 1) << body;
    int batch = 0, message = 0;
    char node = 0;
    ASSERT_EQ(std::sscanf(body.c_str(), "%c-%d-%d", &node, &batch, &message), 3);
    auto [it, first] = last_of.try_emplace(std::string(1, node), batch, message);
    if (!first) {
      EXPECT_LT(it->second, std::make_pair(batch, message)) << body;
      it->second = {batch, message};
    }
  }
  for (Node* node : {a.get(), b.get(), c.get()}) {
    auto breaks = node->store->Breaks(0);
    ASSERT_TRUE(breaks.has_value());
    EXPECT_TRUE(breaks->empty()) << breaks->front().what;
  }
  auto verified = c->store->Verify(0);
  ASSERT_TRUE(verified.has_value()) << verified.error().message();
  EXPECT_TRUE(verified->breaks.empty()) << verified->breaks.front().what;
  EXPECT_EQ(verified->records_checked, total);
  EXPECT_TRUE(verified->anchored);
  EXPECT_EQ(verified->head_end, total);  // the head was merged, never taken back
}

TEST_F(TwoNodesTelemetryTest, ANodeSeesTheOthersRecordsInItsLongPollsAndReads) {
  auto a = Start("00000000000000aa");
  auto b = Start("00000000000000bb");
  const uint64_t from = b->store->end_sequence(1);
  std::promise<SequenceWaiters::Wake> woken;
  b->store->AwaitMessages(1, from, std::chrono::steady_clock::now() + std::chrono::seconds(20),
                          [&](SequenceWaiters::Wake why) { woken.set_value(why); });
  std::vector<TelemetryMessage> batch = {Message("dev", "from a", 1000)};
  COFFRE_ASSERT_OK(a->store->Append(1, batch).status());
  COFFRE_ASSERT_OK(a->store->Commit(1));
  // Woken by b's polling of the store, well before the deadline.
  auto wake = woken.get_future();
  ASSERT_EQ(wake.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(wake.get(), SequenceWaiters::Wake::kData);
  EXPECT_GT(b->store->end_sequence(1), from);

  // A read from past the end b polled last (or at it, if b polled meanwhile) reaches a's
  // newest records at once, never refused as beyond the end.
  batch.push_back(Message("dev", "from a", 1001));
  COFFRE_ASSERT_OK(a->store->Append(1, batch).status());
  COFFRE_ASSERT_OK(a->store->Commit(1));
  auto read = b->store->Read(1, from + 2, 10, SIZE_MAX);
  ASSERT_TRUE(read.has_value()) << read.error().message();
  ASSERT_EQ(read->size(), 1u);
  EXPECT_EQ(read->front().sequence, from + 2);
  EXPECT_EQ(Body(read->front()), "from a");
}

// What a backup reads (the sealed records, up to the end its snapshot's head counts): from the
// end b knows, a's newer records at once, not an empty batch taken for a break.
TEST_F(TwoNodesTelemetryTest, SealedRecordsFromTheEndANodeKnowsReachTheOthersNewerOnes) {
  auto a = Start("00000000000000aa");
  auto b = Start("00000000000000bb");
  const uint64_t known = b->store->end_sequence(0);
  std::vector<TelemetryMessage> batch = {Message("dev", "newer", 1000)};
  COFFRE_ASSERT_OK(a->store->Append(0, batch).status());
  COFFRE_ASSERT_OK(a->store->Commit(0));
  auto sealed = b->store->ReadSealed(0, known, 10, SIZE_MAX);
  ASSERT_TRUE(sealed.has_value()) << sealed.error().message();
  ASSERT_EQ(sealed->size(), 1u);
  EXPECT_EQ(sealed->front().sequence, known);
}

TEST_F(TwoNodesTelemetryTest, ANodeStartingWhileTheOtherWritesFindsNothingMissing) {
  auto a = Start("00000000000000aa");
  std::atomic<bool> stop{false};
  std::atomic<int> failed{0};
  std::thread writing([&] {
    for (int i = 0; i < 5000 && !stop; ++i) {
      std::vector<TelemetryMessage> batch = {Message("a", "a-" + std::to_string(i), 1000 + i)};
      Status done = a->store->Append(0, batch).status();
      if (done.ok()) done = a->store->Commit(0);
      if (!done.ok()) ++failed;
    }
  });
  for (int i = 0; i < 8; ++i) {
    auto b = Start("00000000000000b" + std::to_string(i));
    auto breaks = b->store->Breaks(0);
    ASSERT_TRUE(breaks.has_value()) << breaks.error().message();
    EXPECT_TRUE(breaks->empty()) << "start " << i << ": " << breaks->front().what;
    std::vector<TelemetryMessage> batch = {Message("b", "b-" + std::to_string(i), 1000)};
    COFFRE_EXPECT_OK(b->store->Append(0, batch).status());
    COFFRE_EXPECT_OK(b->store->Commit(0));
  }
  stop = true;
  writing.join();
  EXPECT_EQ(failed.load(), 0);
  auto c = Start("00000000000000cc");
  auto verified = c->store->Verify(0);
  ASSERT_TRUE(verified.has_value()) << verified.error().message();
  EXPECT_TRUE(verified->breaks.empty()) << verified->breaks.front().what;
}

}  // namespace
}  // namespace coffre::hub
