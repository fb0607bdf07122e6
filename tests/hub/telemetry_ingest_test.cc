#include "hub/telemetry_ingest.h"

#include <atomic>
#include <map>
#include <thread>

#include <gtest/gtest.h>

#include "common/clock.h"
#include "fakes/fake_key_provider.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"

namespace coffre::hub {
namespace {

using testing::StatusIs;

class TelemetryIngestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kv_ = std::move(storage::RocksKvStore::Open(dir_.path() / "meta").value());
    keys_ = std::move(HubKeys::Open(*kv_, provider_).value());
    TelemetryStoreOptions options;
    options.hub_name = "localhost";
    options.log.segment_bytes = 1 << 20;
    store_ = std::move(TelemetryStore::Open(dir_.path() / "telemetry", *keys_, *kv_, options).value());
  }
  static TelemetryMessage Message(const std::string& device, int n) {
    TelemetryMessage m;
    m.device_id = device;
    m.properties.system.message_id = device + "/" + std::to_string(n);
    m.body = ToBytes("body " + std::to_string(n));
    return m;
  }

  testing::TempDir dir_;
  testing::FakeKeyProvider provider_;
  std::unique_ptr<storage::RocksKvStore> kv_;
  std::unique_ptr<HubKeys> keys_;
  std::unique_ptr<TelemetryStore> store_;
};

// Every completion comes after its message is durable and readable; nothing is lost.
TEST_F(TelemetryIngestTest, CompletionsComeOnlyAfterTheMessageIsDurable) {
  constexpr int kThreads = 8, kPerThread = 250;
  std::mutex mu;
  std::map<std::string, uint64_t> end_at_completion;  // message id -> partition end then
  std::atomic<int> ok{0};
  {
    TelemetryIngest ingest(*store_);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::string device = "dev-" + std::to_string(t);
        int p = store_->PartitionOf(device);
        for (int n = 0; n < kPerThread; ++n) {
          std::string id = device + "/" + std::to_string(n);
          Status s = ingest.Submit(Message(device, n), [&, id, p](const Status& st) {
            if (!st.ok()) return;
            std::lock_guard<std::mutex> g(mu);
            end_at_completion[id] = store_->end_sequence(p);
            ++ok;
          });
          EXPECT_TRUE(s.ok()) << s;
        }
      });
    }
    for (auto& t : threads) t.join();
  }  // the destructor drains the queues
  EXPECT_EQ(ok.load(), kThreads * kPerThread);
  size_t stored = 0;
  for (int p = 0; p < store_->partitions(); ++p) {
    auto all = std::move(store_->Read(p, 0, 1'000'000, SIZE_MAX).value());
    stored += all.size();
    std::map<std::string, int> last_n;
    for (const StoredMessage& m : all) {
      const std::string& id = *m.message.properties.system.message_id;
      EXPECT_LT(m.sequence, end_at_completion.at(id)) << id << " acknowledged before durable";
      // Per device, order is kept.
      std::string device = m.message.device_id;
      int n = std::stoi(id.substr(device.size() + 1));
      if (last_n.count(device)) {
        EXPECT_EQ(n, last_n[device] + 1);
      }
      last_n[device] = n;
    }
  }
  EXPECT_EQ(stored, size_t{kThreads * kPerThread});
}

TEST_F(TelemetryIngestTest, FullQueuesPushBack) {
  IngestOptions no_room;
  no_room.max_queued_messages = 0;
  TelemetryIngest ingest(*store_, no_room);
  bool called = false;
  EXPECT_THAT(ingest.Submit(Message("dev", 0), [&](const Status&) { called = true; }),
              StatusIs(StatusCode::kResourceExhausted));
  EXPECT_FALSE(called);
}

TEST_F(TelemetryIngestTest, StatsCountMessagesAndSyncs) {
  std::atomic<int> done{0};
  {
    TelemetryIngest ingest(*store_);
    for (int n = 0; n < 100; ++n) {
      ASSERT_TRUE(ingest.Submit(Message("dev", n), [&](const Status&) { ++done; }).ok());
    }
  }
  EXPECT_EQ(done.load(), 100);
  // How many syncs depends on timing (not asserted beyond the bounds).
}

}  // namespace
}  // namespace coffre::hub

namespace coffre::hub {
namespace {

// Retention runs on the writers: whole segments whose messages are all older than the
// retention go, the newer ones stay, and reads start at the oldest one kept.
TEST_F(TelemetryIngestTest, RetentionDeletesWholeSegmentsOlderThanTheRetention) {
  constexpr int64_t kT0 = 1'800'000'000'000;
  constexpr int64_t kHour = 3'600'000;
  TelemetryStoreOptions options;
  options.hub_name = "localhost";
  options.partitions = 1;
  options.log.segment_bytes = 8192;
  auto store = std::move(TelemetryStore::Open(dir_.path() / "retained", *keys_, *kv_, options).value());
  ManualClock clock{ManualClock::WallTime(std::chrono::milliseconds(kT0))};
  IngestOptions io;
  io.retention = std::chrono::hours(1);
  io.retention_check_every = std::chrono::milliseconds(10);
  io.clock = &clock;
  TelemetryIngest ingest(*store, io);
  auto submit_all = [&](int from, int to, int64_t enqueued) {
    std::atomic<int> done{0};
    for (int n = from; n < to; ++n) {
      TelemetryMessage m = Message("dev-01", n);
      m.enqueued_ms = enqueued;
      COFFRE_ASSERT_OK(ingest.Submit(std::move(m), [&done](const Status& s) {
        EXPECT_TRUE(s.ok()) << s;
        ++done;
      }));
    }
    while (done.load() < to - from) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  };
  submit_all(0, 300, kT0);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(store->begin_sequence(0), 0u) << "nothing is older than an hour yet";
  submit_all(300, 350, kT0 + 2 * kHour);
  clock.Advance(std::chrono::milliseconds(2 * kHour + 60'000));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  // The stat is counted once a whole expiry pass is done.
  while (ingest.stats().expired_segments == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_GT(ingest.stats().expired_segments, 0u);
  uint64_t begin = store->begin_sequence(0);
  EXPECT_GT(begin, 200u) << "the old segments went";
  EXPECT_LE(begin, 300u) << "no segment holding a new message went";
  COFFRE_ASSERT_OK_AND_ASSIGN(auto kept, store->Read(0, begin, 1000, SIZE_MAX));
  EXPECT_EQ(kept.back().message.properties.system.message_id, "dev-01/349");
  EXPECT_THAT(store->Read(0, 0, 1, SIZE_MAX).status(), StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace coffre::hub
