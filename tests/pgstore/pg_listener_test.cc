// A hub node's notifications from PostgreSQL (pgstore/pg_listener.h): a NOTIFY sent through
// another node's pool arrives; after its connection is killed the listener connects again,
// says so (resync) and receives again; a notification sent while it was away is not queued
// for it, which is why the resync exists.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "pg_server.h"
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
  }
  std::unique_ptr<PgListener> Listen() {
    PgListenerOptions o;
    o.conninfo = server_.conninfo();
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
  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<std::string> received_;  // guarded by mu_
  int resyncs_ = 0;                    // guarded by mu_
};

TEST_F(PgListenerTest, NotificationsArriveAndALostConnectionIsMadeAgainWithAResync) {
  auto listener = Listen();
  ASSERT_TRUE(WaitFor([&] { return resyncs_ == 1; }));
  COFFRE_ASSERT_OK(PgNotify(*pool_, "coffre_all", "p:3:1200"));
  COFFRE_ASSERT_OK(PgNotify(*pool_, "coffre_node_b", "not for this node"));
  COFFRE_ASSERT_OK(PgNotify(*pool_, "coffre_node_a", "kick:abc"));
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
  COFFRE_ASSERT_OK(PgNotify(*pool_, "coffre_all", "after"));
  ASSERT_TRUE(WaitFor([&] { return received_.size() == 3; }));
  EXPECT_EQ(received_[2], "coffre_all:after");
}

TEST_F(PgListenerTest, ChannelNamesAndPayloadsAreChecked) {
  PgListenerOptions o;
  o.conninfo = server_.conninfo();
  o.channels = {"coffre; DROP TABLE x"};
  EXPECT_THAT(PgListener::Start(o).status(), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(PgNotify(*pool_, "Bad-Name", "x"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(PgNotify(*pool_, "coffre_all", std::string(8000, 'x')),
              StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace coffre::pgstore
