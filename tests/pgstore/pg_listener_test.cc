// A hub node's notifications from PostgreSQL (pgstore/pg_listener.h): a NOTIFY sent through
// another node's pool arrives; after its connection is killed the listener connects again,
// says so (resync) and receives again; a notification sent while it was away is not queued
// for it, which is why the resync exists. Payloads that do not verify under the hub nodes' key
// (unsigned, signed by another key or for another channel, replayed late, altered) are dropped
// and counted.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "pg_server.h"
#include "common/clock.h"
#include "pgstore/pg_listener.h"
#include "test_util.h"

namespace coffre::pgstore {
namespace {

using coffre::testing::StatusIs;

class PgListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!server_.available()) GTEST_SKIP() << server_.why_not();
    pool_ = std::move(PgPool::Connect({server_.conninfo(), 2}).value());
    key_ = std::move(PgNotifyKey::Create(*crypto::SecretBytes::Random(32)).value());
  }
  std::unique_ptr<PgListener> Listen() {
    PgListenerOptions o;
    o.conninfo = server_.conninfo();
    o.key = key_.get();
    o.channels = {"coffre_all", "coffre_node_a"};
    o.on_notify = [this](const PgNotification& n) {
      std::lock_guard<std::mutex> lock(mu_);
      received_.push_back(n.channel + ":" + n.payload);
      changed_.notify_all();
    };
    o.on_resync = [this] {
      std::lock_guard<std::mutex> lock(mu_);
      ++resyncs_;
      changed_.notify_all();
    };
    o.retry_every = std::chrono::milliseconds(100);
    return std::move(PgListener::Start(o).value());
  }
  // Waits (at most 5 s) until `done` holds.
  bool WaitFor(const std::function<bool()>& done) {
    std::unique_lock<std::mutex> lock(mu_);
    return changed_.wait_for(lock, std::chrono::seconds(5), done);
  }

  testing::PgServer server_;
  std::unique_ptr<PgPool> pool_;
  std::unique_ptr<PgNotifyKey> key_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<std::string> received_;  // guarded by mu_
  int resyncs_ = 0;                    // guarded by mu_
};

TEST_F(PgListenerTest, NotificationsArriveAndALostConnectionIsMadeAgainWithAResync) {
  auto listener = Listen();
  ASSERT_TRUE(WaitFor([&] { return resyncs_ == 1; }));
  COFFRE_ASSERT_OK(PgNotify(*pool_, *key_, "coffre_all", "p:3:1200"));
  COFFRE_ASSERT_OK(PgNotify(*pool_, *key_, "coffre_node_b", "not for this node"));
  COFFRE_ASSERT_OK(PgNotify(*pool_, *key_, "coffre_node_a", "kick:abc"));
  ASSERT_TRUE(WaitFor([&] { return received_.size() == 2; }));
  EXPECT_EQ(received_[0], "coffre_all:p:3:1200");
  EXPECT_EQ(received_[1], "coffre_node_a:kick:abc");

  // Its server process ended (as by a failover): connected again, resync first.
  int pid = listener->backend_pid();
  ASSERT_NE(pid, 0);
  COFFRE_ASSERT_OK(pool_->Run([&](PgConnection& db) {
    return db.Exec("SELECT pg_terminate_backend($1)", {PgParam::Int(pid)}).status();
  }));
  ASSERT_TRUE(WaitFor([&] { return resyncs_ == 2; }));
  EXPECT_EQ(listener->connections(), 2u);
  EXPECT_NE(listener->backend_pid(), pid);
  COFFRE_ASSERT_OK(PgNotify(*pool_, *key_, "coffre_all", "after"));
  ASSERT_TRUE(WaitFor([&] { return received_.size() == 3; }));
  EXPECT_EQ(received_[2], "coffre_all:after");
}

TEST_F(PgListenerTest, ChannelNamesAndPayloadsAreChecked) {
  PgListenerOptions o;
  o.conninfo = server_.conninfo();
  o.key = key_.get();
  o.channels = {"coffre; DROP TABLE x"};
  EXPECT_THAT(PgListener::Start(o).status(), StatusIs(StatusCode::kInvalidArgument));
  o.channels = {"coffre_all"};
  o.key = nullptr;
  EXPECT_THAT(PgListener::Start(o).status(), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(PgNotify(*pool_, *key_, "Bad-Name", "x"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(PgNotify(*pool_, *key_, "coffre_all", std::string(8000, 'x')),
              StatusIs(StatusCode::kInvalidArgument));
}

// What anyone with the hub's database role could send: none of it reaches the hub, each counted.
TEST_F(PgListenerTest, NotificationsThatDoNotVerifyAreDroppedAndCounted) {
  auto listener = Listen();
  ASSERT_TRUE(WaitFor([&] { return resyncs_ == 1; }));
  auto other_key = PgNotifyKey::Create(*crypto::SecretBytes::Random(32)).value();
  const int64_t now = SystemClock().NowMillis();
  const int64_t late = now - std::chrono::milliseconds(kNotifyMaxAge).count() - 1000;
  std::string signed_here = key_->Sign("coffre_all", "kick:abc", now).value();
  std::string altered = signed_here;
  altered.back() = 'd';
  for (const std::string& forged : {std::string("kick:abc"),
                                    other_key->Sign("coffre_all", "kick:abc", now).value(),
                                    key_->Sign("coffre_node_a", "kick:abc", now).value(),
                                    key_->Sign("coffre_all", "kick:abc", late).value(),
                                    altered}) {
    COFFRE_ASSERT_OK(pool_->Run([&](PgConnection& db) {
      return db.Exec("SELECT pg_notify('coffre_all', $1)", {PgParam::Text(forged)}).status();
    }));
  }
  COFFRE_ASSERT_OK(PgNotify(*pool_, *key_, "coffre_all", "genuine"));  // sent after them
  ASSERT_TRUE(WaitFor([&] { return !received_.empty(); }));
  EXPECT_EQ(received_, std::vector<std::string>{"coffre_all:genuine"});
  EXPECT_EQ(listener->rejected(), 5u);
}

}  // namespace
}  // namespace coffre::pgstore
