// Two hub nodes' C2D queues and feedback on one PostgreSQL database, as cluster mode runs
// them: each node its own pool, keys, digest shard and C2dQueues, racing on one device's queue
// and on the hub's feedback. Nothing is cached per node: one queue, one depth limit, one
// numbering, and a delivery made on one node settled on the other.
#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <thread>

#include "fakes/fake_key_provider.h"
#include "hub/c2d_queues.h"
#include "hub_store_node.h"
#include "pg_server.h"
#include "test_util.h"

namespace coffre::hub {
namespace {

using testing::StatusWithDetail;

struct Node : testing::HubStoreNode {
  Node(const std::string& conninfo, const crypto::SecretBytes& service_key,
       crypto::KeyProvider& provider, const std::string& node_id)
      : HubStoreNode(conninfo, service_key, provider, node_id), id(node_id) {
    Restart();
  }
  void Restart() { c2d = std::make_unique<C2dQueues>(*rows, SystemClock(), C2dLimits{}, id); }
  std::string id;
  std::unique_ptr<C2dQueues> c2d;
};

C2dMessage Message(const std::string& id, C2dAck ack = C2dAck::kNone) {
  C2dMessage m;
  m.properties.system.message_id = id;
  m.body = "body of " + id;
  m.ack = ack;
  return m;
}

class TwoNodesC2dTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!server_.available()) GTEST_SKIP() << server_.why_not();
    a_ = std::make_unique<Node>(server_.conninfo(), service_key_, provider_, "00000000000000aa");
    b_ = std::make_unique<Node>(server_.conninfo(), service_key_, provider_, "00000000000000bb");
  }
  // Runs fn(node, thread) on `threads` threads of each node at once.
  void OnBothNodes(int threads, const std::function<void(Node&, int)>& fn) {
    std::vector<std::thread> running;
    for (Node* node : {a_.get(), b_.get()}) {
      for (int t = 0; t < threads; ++t) running.emplace_back([&, node, t] { fn(*node, t); });
    }
    for (auto& t : running) t.join();
  }
  std::string Name(const Node& node) const { return &node == a_.get() ? "a" : "b"; }
  static QueuedC2d Receive(Node& node, const std::string& device) {
    auto got = node.c2d->Receive(device, "g1");
    EXPECT_TRUE(got.has_value()) << got.error();
    EXPECT_TRUE(got.has_value() && got->has_value()) << "the queue of " << device << " is empty";
    return got.has_value() && got->has_value() ? **got : QueuedC2d{};
  }

  testing::PgServer server_;
  crypto::SecretBytes service_key_ = crypto::SecretBytes::Random(32).value();
  testing::FakeKeyProvider provider_;
  std::unique_ptr<Node> a_, b_;
};

TEST_F(TwoNodesC2dTest, OneQueueOneLimitAndDeliveriesSettledOnEitherNode) {
  // 25 messages enqueued through each node at once: 50 kept, none over another, then full.
  OnBothNodes(5, [&](Node& node, int t) {
    for (int i = 0; i < 5; ++i) {
      std::string id = Name(node) + std::to_string(t) + "-" + std::to_string(i);
      COFFRE_EXPECT_OK(node.c2d->Enqueue("dev", "g1", Message(id)));
    }
  });
  std::set<std::string> ids;
  std::set<uint64_t> sequences;
  COFFRE_ASSERT_OK_AND_ASSIGN(std::vector<std::string> rows, a_->rows->Rows("c2d/"));
  for (const std::string& row : rows) {
    COFFRE_ASSERT_OK_AND_ASSIGN(QueuedC2d m, QueuedC2d::FromJson(b_->rows->Load(row).value()));
    ids.insert(*m.message.properties.system.message_id);
    sequences.insert(m.sequence);
  }
  EXPECT_EQ(rows.size(), 50u);
  EXPECT_EQ(ids.size(), 50u);
  EXPECT_EQ(sequences.size(), 50u);
  for (Node* node : {a_.get(), b_.get()}) {
    EXPECT_THAT(node->c2d->Enqueue("dev", "g1", Message("51st")),
                StatusWithDetail(StatusCode::kResourceExhausted, "DeviceMaximumQueueDepthExceeded"));
    EXPECT_EQ(node->c2d->Depth("dev", "g1").value(), 50u);
  }

  // Received on A, completed on B with A's lock token.
  QueuedC2d first = Receive(*a_, "dev");
  COFFRE_EXPECT_OK(b_->c2d->Complete("dev", first.lock_token));
  EXPECT_THAT(a_->c2d->Complete("dev", first.lock_token),
              StatusWithDetail(StatusCode::kFailedPrecondition, "DeviceMessageLockLost"));
  // Received on A, abandoned on B: A delivers it again.
  QueuedC2d second = Receive(*a_, "dev");
  COFFRE_EXPECT_OK(b_->c2d->Abandon("dev", second.lock_token));
  QueuedC2d again = Receive(*a_, "dev");
  EXPECT_EQ(again.message.properties.system.message_id, second.message.properties.system.message_id);
  EXPECT_EQ(again.delivery_count, 2u);
  EXPECT_EQ(b_->c2d->Depth("dev", "g1").value(), 49u);
  // B keeps off A's lock; A restarted voids the locks of its earlier run (that delivery is gone
  // with it) but not B's.
  QueuedC2d on_b = Receive(*b_, "dev");
  EXPECT_NE(on_b.message.properties.system.message_id, again.message.properties.system.message_id);
  a_->Restart();
  QueuedC2d after_restart = Receive(*a_, "dev");
  EXPECT_EQ(after_restart.message.properties.system.message_id,
            again.message.properties.system.message_id);
  EXPECT_EQ(after_restart.delivery_count, 3u);
  EXPECT_NE(Receive(*a_, "dev").message.properties.system.message_id,
            on_b.message.properties.system.message_id);

  // Purged on A: B finds the queue empty, and takes new messages.
  EXPECT_EQ(a_->c2d->Purge("dev").value(), 49u);
  auto none = b_->c2d->Receive("dev", "g1");
  ASSERT_TRUE(none.has_value()) << none.error();
  EXPECT_FALSE(none->has_value());
  EXPECT_THAT(b_->c2d->Complete("dev", after_restart.lock_token),
              StatusWithDetail(StatusCode::kFailedPrecondition, "DeviceMessageLockLost"));
  COFFRE_EXPECT_OK(b_->c2d->Enqueue("dev", "g1", Message("after")));
  EXPECT_EQ(Receive(*a_, "dev").message.properties.system.message_id, "after");
}

TEST_F(TwoNodesC2dTest, FeedbackFromBothNodesIsNumberedOnceAndAcknowledgedOnEither) {
  // Messages completed on both nodes at once (a device per thread): a record each, numbered
  // 1, 2, ... in the order made, none lost.
  constexpr int kThreads = 2, kRounds = 10;
  OnBothNodes(kThreads, [&](Node& node, int t) {
    const std::string device = "dev-" + Name(node) + std::to_string(t);
    for (int i = 0; i < kRounds; ++i) {
      COFFRE_EXPECT_OK(node.c2d->Enqueue(device, "g1", Message(device + "-" + std::to_string(i), C2dAck::kFull)));
      COFFRE_EXPECT_OK(node.c2d->Complete(device, Receive(node, device).lock_token));
    }
  });
  constexpr size_t kRecords = 2 * kThreads * kRounds;
  COFFRE_ASSERT_OK_AND_ASSIGN(C2dQueues::FeedbackBatch batch, a_->c2d->PeekFeedback(100));
  ASSERT_EQ(batch.rows.size(), kRecords);
  std::set<std::string> ids;
  for (size_t i = 0; i < kRecords; ++i) {
    EXPECT_EQ(C2dQueues::FeedbackNumber(batch.rows[i]), i + 1);
    EXPECT_EQ(batch.records[i].outcome, C2dOutcome::kSuccess);
    ids.insert(batch.records[i].original_message_id);
  }
  EXPECT_EQ(ids.size(), kRecords);

  // Handed out on A, acknowledged on B; a number beyond it refused on both.
  for (Node* node : {a_.get(), b_.get()}) {
    EXPECT_EQ(node->c2d->AcknowledgeFeedbackThrough(kRecords + 1).code(),
              StatusCode::kFailedPrecondition);
  }
  COFFRE_EXPECT_OK(b_->c2d->AcknowledgeFeedbackThrough(kRecords));
  EXPECT_TRUE(a_->c2d->PeekFeedback(100).value().rows.empty());
  // The next record has the next number, whichever node makes it.
  COFFRE_ASSERT_OK(b_->c2d->Enqueue("dev-b0", "g1", Message("last", C2dAck::kFull)));
  COFFRE_ASSERT_OK(b_->c2d->Complete("dev-b0", Receive(*b_, "dev-b0").lock_token));
  batch = a_->c2d->PeekFeedback(100).value();
  ASSERT_EQ(batch.rows.size(), 1u);
  EXPECT_EQ(C2dQueues::FeedbackNumber(batch.rows[0]), kRecords + 1);
}

}  // namespace
}  // namespace coffre::hub
