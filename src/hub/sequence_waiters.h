#pragma once
// SequenceWaiters: readers waiting (a long poll) for a telemetry partition's durable end to pass
// a sequence number, without a thread each. Every waiter is called exactly once: when a commit
// makes its partition pass its sequence number (Notify), at its deadline, or on WakeAll() (the
// hub became Inaccessible: stop waiting for data that cannot be opened). Callbacks run on the
// thread that notifies (a storage writer) or on the waiters' own deadline thread, outside any
// lock: they must be short (hand the real work elsewhere). Waiters still waiting at destruction
// are dropped without a call. Thread-safe.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace coffre::hub {

class SequenceWaiters {
 public:
  enum class Wake { kData, kDeadline, kWoken };
  using Callback = std::function<void(Wake)>;
  using Clock = std::chrono::steady_clock;

  SequenceWaiters();   // starts the deadline thread
  ~SequenceWaiters();  // joins it
  SequenceWaiters(const SequenceWaiters&) = delete;
  SequenceWaiters& operator=(const SequenceWaiters&) = delete;

  // Calls `done` once the partition's end passes `from`. `end_now` gives the end as it is now;
  // it is read under the waiters' lock, so a commit that races with this call is never missed
  // (a committer makes its end visible before it calls Notify).
  void Wait(int partition, uint64_t from, Clock::time_point deadline,
            const std::function<uint64_t()>& end_now, Callback done);
  // The partition's durable end is now `end`.
  void Notify(int partition, uint64_t end);
  void WakeAll();
  size_t waiting() const { return count_.load(); }

 private:
  struct Waiter {
    int partition;
    uint64_t from;
    Clock::time_point deadline;
    Callback done;
  };
  void Run();

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::vector<Waiter> waiters_;  // guarded by mu_
  bool stopping_ = false;        // guarded by mu_
  std::atomic<size_t> count_{0};  // waiters_.size(), readable without the lock
  std::thread thread_;
};

}  // namespace coffre::hub
