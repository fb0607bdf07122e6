#include "common/work_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <vector>

namespace coffre {
namespace {

TEST(WorkQueueTest, RunsTasksInOrderAndGoesOnAfterOneThrows) {
  WorkQueue queue("test");
  std::vector<int> ran;
  std::promise<void> done;
  ASSERT_TRUE(queue.Post([&] { ran.push_back(1); }));
  ASSERT_TRUE(queue.Post([] { throw std::runtime_error("boom"); }));
  ASSERT_TRUE(queue.Post([] { throw 7; }));
  ASSERT_TRUE(queue.Post([&] {
    ran.push_back(2);
    done.set_value();
  }));
  done.get_future().wait();
  EXPECT_EQ(ran, (std::vector<int>{1, 2}));
}

TEST(WorkQueueTest, RefusesWhenFullAndDropsWhatIsLeftAtStop) {
  WorkQueue queue("test", 2);
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  std::promise<void> started;
  ASSERT_TRUE(queue.Post([&, gate] {
    started.set_value();
    gate.wait();
  }));
  started.get_future().wait();
  std::atomic<int> ran{0};
  EXPECT_TRUE(queue.Post([&] { ++ran; }));
  EXPECT_TRUE(queue.Post([&] { ++ran; }));
  EXPECT_FALSE(queue.Post([&] { ++ran; })) << "two already wait";
  auto dropped = std::make_shared<int>(0);
  std::weak_ptr<int> watch = dropped;
  EXPECT_FALSE(queue.Post([dropped] {}));
  dropped.reset();
  EXPECT_TRUE(watch.expired()) << "a refused task is dropped at once";
  std::thread stopper([&] { queue.Stop(); });
  release.set_value();
  stopper.join();
  EXPECT_LE(ran.load(), 2);
  EXPECT_FALSE(queue.Post([] {})) << "stopped";
}

}  // namespace
}  // namespace coffre
