#include "hub/c2d_queues.h"

#include <cstdint>

#include <gtest/gtest.h>

#include "fakes/fake_key_provider.h"
#include "file_scan.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"

namespace coffre::hub {
namespace {

using namespace std::chrono_literals;
using testing::FakeKeyProvider;
using testing::StatusWithDetail;

class C2dQueuesTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open(C2dLimits limits = {}) {
    queues_.reset();
    rows_.reset();
    keys_.reset();
    kv_.reset();
    kv_ = std::move(storage::RocksKvStore::Open(dir_.path() / "meta").value());
    keys_ = std::move(HubKeys::Open(*kv_, provider_).value());
    rows_ = std::make_unique<SealedRows>(*kv_, *keys_);
    queues_ = std::make_unique<C2dQueues>(*rows_, clock_, limits);
  }
  static C2dMessage Message(const std::string& id, const std::string& body, C2dAck ack = C2dAck::kNone) {
    C2dMessage m;
    m.properties.system.message_id = id;
    m.properties.application = {{"kind", "cmd"}};
    m.body = body;
    m.ack = ack;
    return m;
  }
  QueuedC2d Receive(const std::string& device) {
    auto r = queues_->Receive(device);
    EXPECT_TRUE(r.has_value()) << r.error();
    EXPECT_TRUE(r.has_value() && r->has_value()) << "queue of " << device << " is empty";
    return r.has_value() && r->has_value() ? **r : QueuedC2d{};
  }
  bool Empty(const std::string& device) {
    auto r = queues_->Receive(device);
    return r.has_value() && !r->has_value();
  }
  std::vector<std::string> Feedback() {
    std::vector<std::string> out;
    auto batch = queues_->PeekFeedback(100);
    EXPECT_TRUE(batch.has_value());
    for (const auto& f : batch->records) {
      out.push_back(f.original_message_id + ":" + std::string(C2dOutcomeName(f.outcome)));
    }
    return out;
  }

  testing::TempDir dir_;
  FakeKeyProvider provider_;
  ManualClock clock_;
  std::unique_ptr<storage::RocksKvStore> kv_;
  std::unique_ptr<HubKeys> keys_;
  std::unique_ptr<SealedRows> rows_;
  std::unique_ptr<C2dQueues> queues_;
};

TEST_F(C2dQueuesTest, MessagesArriveInOrderAndCompleteRemovesThem) {
  ASSERT_TRUE(queues_->Enqueue("d1", "g1", Message("m1", "first")).ok());
  ASSERT_TRUE(queues_->Enqueue("d1", "g1", Message("m2", "second")).ok());
  QueuedC2d a = Receive("d1");
  EXPECT_EQ(a.message.body, "first");
  EXPECT_EQ(a.delivery_count, 1u);
  EXPECT_FALSE(a.lock_token.empty());
  QueuedC2d b = Receive("d1");  // the first is locked: the next comes
  EXPECT_EQ(b.message.body, "second");
  EXPECT_TRUE(Empty("d1"));
  EXPECT_TRUE(queues_->Complete("d1", a.lock_token).ok());
  EXPECT_THAT(queues_->Complete("d1", a.lock_token),
              StatusWithDetail(StatusCode::kFailedPrecondition, "DeviceMessageLockLost"));
  EXPECT_EQ(*queues_->Depth("d1"), 1u);
  EXPECT_TRUE(Empty("d2"));  // queues are per device
}

TEST_F(C2dQueuesTest, AbandonAndAnExpiredLockPutTheMessageBack) {
  ASSERT_TRUE(queues_->Enqueue("d1", "g1", Message("m1", "x")).ok());
  QueuedC2d a = Receive("d1");
  ASSERT_TRUE(queues_->Abandon("d1", a.lock_token).ok());
  QueuedC2d again = Receive("d1");
  EXPECT_EQ(again.delivery_count, 2u);
  EXPECT_NE(again.lock_token, a.lock_token);
  clock_.Advance(61s);  // lock duration 60 s
  EXPECT_THAT(queues_->Complete("d1", again.lock_token),
              StatusWithDetail(StatusCode::kFailedPrecondition, "DeviceMessageLockLost"));
  EXPECT_EQ(Receive("d1").delivery_count, 3u);
}

TEST_F(C2dQueuesTest, TheQueueHoldsFiftyMessages) {
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(queues_->Enqueue("d1", "g1", Message("m", "x")).ok());
  EXPECT_THAT(queues_->Enqueue("d1", "g1", Message("m51", "x")),
              StatusWithDetail(StatusCode::kResourceExhausted, "DeviceMaximumQueueDepthExceeded"));
  EXPECT_TRUE(queues_->Enqueue("d2", "g2", Message("other", "x")).ok());  // others unaffected
  EXPECT_THAT(queues_->Enqueue("d1", "g1", Message("big", std::string(64 * 1024 + 1, 'b'))),
              StatusWithDetail(StatusCode::kResourceExhausted, "MessageTooLarge"));
}

TEST_F(C2dQueuesTest, ADeviceCreatedAgainStartsWithAnEmptyQueue) {
  // A full queue of the deleted device (generation g1) neither counts for nor reaches the new
  // device of the same id (g2), whichever of enqueue or receive comes first.
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(queues_->Enqueue("d1", "g1", Message("old", "x")).ok());
  ASSERT_TRUE(queues_->Enqueue("d1", "g2", Message("new", "y")).ok());
  auto got = queues_->Receive("d1", "g2");
  ASSERT_TRUE(got.has_value() && got->has_value());
  EXPECT_EQ((*got)->message.properties.system.message_id, "new");
  EXPECT_EQ(queues_->Depth("d1").value(), 1u);

  ASSERT_TRUE(queues_->Enqueue("d2", "g1", Message("old", "x")).ok());
  auto none = queues_->Receive("d2", "g2");
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(none->has_value());
}

TEST_F(C2dQueuesTest, AnExpiredMessageIsNeverDeliveredAndGivesNegativeFeedback) {
  C2dMessage m = Message("short", "x", C2dAck::kNegative);
  m.expiry = clock_.Now() + 10s;
  ASSERT_TRUE(queues_->Enqueue("d1", "g1", m).ok());
  ASSERT_TRUE(queues_->Enqueue("d1", "g1", Message("default-ttl", "y", C2dAck::kFull)).ok());
  clock_.Advance(11s);
  EXPECT_EQ(Receive("d1").message.properties.system.message_id, "default-ttl");
  EXPECT_EQ(Feedback(), std::vector<std::string>{"short:Expired"});
  clock_.Advance(1h - 11s);  // the default TTL; the first record is not yet an hour old
  EXPECT_TRUE(Empty("d1"));
  EXPECT_EQ(Feedback(), (std::vector<std::string>{"short:Expired", "default-ttl:Expired"}));
}

TEST_F(C2dQueuesTest, FeedbackFollowsTheAckMode) {
  for (auto [id, ack] : {std::pair{"none", C2dAck::kNone}, {"pos", C2dAck::kPositive},
                         {"neg", C2dAck::kNegative}, {"full", C2dAck::kFull}}) {
    ASSERT_TRUE(queues_->Enqueue("d1", "g1", Message(id, "ok", ack)).ok());
    ASSERT_TRUE(queues_->Complete("d1", Receive("d1").lock_token).ok());
    ASSERT_TRUE(queues_->Enqueue("d1", "g1", Message(id, "no", ack)).ok());
    ASSERT_TRUE(queues_->Reject("d1", Receive("d1").lock_token).ok());
  }
  EXPECT_EQ(Feedback(), (std::vector<std::string>{"pos:Success", "neg:Rejected", "full:Success",
                                                  "full:Rejected"}));
  auto batch = queues_->PeekFeedback(2);
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->records[0].device_id, "d1");
  EXPECT_EQ(batch->records[0].device_generation_id, "g1");
  EXPECT_EQ(batch->records[0].ToJson()["description"], "Success");
  ASSERT_TRUE(queues_->AcknowledgeFeedback(batch->rows).ok());
  EXPECT_EQ(Feedback(), (std::vector<std::string>{"full:Success", "full:Rejected"}));
  EXPECT_FALSE(queues_->AcknowledgeFeedback({"c2d/elsewhere"}).ok());
}

// Feedback is bounded as Azure bounds it: a record older than the feedback TTL (1 hour) is gone,
// and past max_feedback records the oldest go first; both across a restart.
TEST_F(C2dQueuesTest, FeedbackOlderThanItsTtlOrBeyondTheMaximumIsDroppedOldestFirst) {
  C2dLimits limits;
  limits.max_feedback = 3;
  Open(limits);
  auto rejected = [this](const std::string& id) {
    ASSERT_TRUE(queues_->Enqueue("d1", "g1", Message(id, "x", C2dAck::kNegative)).ok());
    ASSERT_TRUE(queues_->Reject("d1", Receive("d1").lock_token).ok());
  };
  rejected("a");
  clock_.Advance(30min);
  for (const char* id : {"b", "c", "d"}) rejected(id);
  EXPECT_EQ(Feedback(), (std::vector<std::string>{"b:Rejected", "c:Rejected", "d:Rejected"}));
  clock_.Advance(31min);  // b, c and d are 31 minutes old
  rejected("e");
  EXPECT_EQ(Feedback(), (std::vector<std::string>{"c:Rejected", "d:Rejected", "e:Rejected"}));
  Open(limits);
  clock_.Advance(30min);  // c and d are an hour and a minute old, e half an hour
  EXPECT_EQ(Feedback(), std::vector<std::string>{"e:Rejected"});
  clock_.Advance(30min);
  EXPECT_TRUE(Feedback().empty());
}

// A batch number beyond every batch handed out would acknowledge records nobody has read.
TEST_F(C2dQueuesTest, AcknowledgingABatchNeverHandedOutIsRefused) {
  for (const char* id : {"a", "b", "c"}) {
    ASSERT_TRUE(queues_->Enqueue("d1", "g1", Message(id, "x", C2dAck::kFull)).ok());
    ASSERT_TRUE(queues_->Complete("d1", Receive("d1").lock_token).ok());
  }
  EXPECT_EQ(queues_->AcknowledgeFeedbackThrough(1).code(), StatusCode::kFailedPrecondition);
  auto batch = queues_->PeekFeedback(2);  // a and b: the batch is number 2
  ASSERT_TRUE(batch.has_value());
  ASSERT_EQ(C2dQueues::FeedbackNumber(batch->rows.back()), 2u);
  EXPECT_EQ(queues_->AcknowledgeFeedbackThrough(3).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(queues_->AcknowledgeFeedbackThrough(UINT64_MAX).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Feedback().size(), 3u);  // nothing acknowledged by the refusals (and c handed out)
  ASSERT_TRUE(queues_->AcknowledgeFeedbackThrough(2).ok());
  EXPECT_EQ(Feedback(), std::vector<std::string>{"c:Success"});
}

// A hub made before the feedback state row (records numbered by each process from the last
// one) numbers on from its last record.
TEST_F(C2dQueuesTest, FeedbackOfAHubFromBeforeTheStateRowIsNumberedOnFromItsLastRecord) {
  C2dFeedback old;
  old.original_message_id = "old";
  old.device_id = "d1";
  old.enqueued_time = clock_.Now();
  ASSERT_TRUE(rows_->Store("c2dfeedback/0000000000000005", old.ToJson()).ok());
  ASSERT_TRUE(queues_->Enqueue("d1", "g1", Message("new", "x", C2dAck::kFull)).ok());
  ASSERT_TRUE(queues_->Complete("d1", Receive("d1").lock_token).ok());
  auto batch = queues_->PeekFeedback(10);
  ASSERT_TRUE(batch.has_value());
  ASSERT_EQ(batch->rows.size(), 2u);
  EXPECT_EQ(C2dQueues::FeedbackNumber(batch->rows[1]), 6u);
  EXPECT_EQ(batch->records[1].original_message_id, "new");
  ASSERT_TRUE(queues_->AcknowledgeFeedbackThrough(6).ok());
  EXPECT_TRUE(Feedback().empty());
}

TEST_F(C2dQueuesTest, TheEleventhDeliveryDeadLettersInstead) {
  ASSERT_TRUE(queues_->Enqueue("d1", "g1", Message("flaky", "x", C2dAck::kNegative)).ok());
  for (int i = 1; i <= 10; ++i) {
    QueuedC2d m = Receive("d1");
    EXPECT_EQ(m.delivery_count, static_cast<uint32_t>(i));
    ASSERT_TRUE(queues_->Abandon("d1", m.lock_token).ok());
  }
  EXPECT_TRUE(Empty("d1"));
  EXPECT_EQ(Feedback(), std::vector<std::string>{"flaky:DeliveryCountExceeded"});
}

TEST_F(C2dQueuesTest, MessagesSurviveARestartAndALockedOneIsDeliveredAgain) {
  ASSERT_TRUE(queues_->Enqueue("d1", "g1", Message("m1", "kept")).ok());
  ASSERT_TRUE(queues_->Enqueue("d1", "g1", Message("m2", "done", C2dAck::kFull)).ok());
  QueuedC2d first = Receive("d1");
  QueuedC2d second = Receive("d1");
  ASSERT_TRUE(queues_->Complete("d1", second.lock_token).ok());
  Open();
  // The lock is in the row, but an earlier run's (this node's) is void: delivered again at once.
  EXPECT_THAT(queues_->Complete("d1", first.lock_token),
              StatusWithDetail(StatusCode::kFailedPrecondition, "DeviceMessageLockLost"));
  QueuedC2d again = Receive("d1");
  EXPECT_EQ(again.message.body, "kept");
  EXPECT_EQ(again.delivery_count, 2u);
  EXPECT_EQ(again.message.properties.application,
            (std::vector<std::pair<std::string, std::string>>{{"kind", "cmd"}}));
  EXPECT_TRUE(Empty("d1"));  // the completed one never comes back
  EXPECT_EQ(Feedback(), std::vector<std::string>{"m2:Success"});
  ASSERT_TRUE(queues_->Enqueue("d1", "g1", Message("m3", "after", C2dAck::kFull)).ok());
  EXPECT_EQ(*queues_->Purge("d1"), 2u);
  EXPECT_EQ(Feedback(), (std::vector<std::string>{"m2:Success", "m3:Purged"}));
}

TEST_F(C2dQueuesTest, NoBodyOrPropertyIsStoredInPlaintext) {
  ASSERT_TRUE(queues_->Enqueue("device-marker-7", "g1", Message("mid-marker-7", "body-marker-7")).ok());
  kv_.reset();
  for (std::string_view marker : {"body-marker-7", "mid-marker-7", "device-marker-7"}) {
    EXPECT_TRUE(testing::FilesContaining(dir_.path(), AsBytes(marker)).empty()) << marker;
  }
}

}  // namespace
}  // namespace coffre::hub
