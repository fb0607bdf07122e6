#pragma once
// WorkQueue: runs posted tasks in order on its own thread, for work that blocks (a vault round
// trip, an fsync, RSA key generation) and so must stay off the io threads that serve every
// other client. Bounded: Post refuses when `max_queued` tasks wait. A task that throws is
// logged (its type only) and the queue goes on. Stop() lets the running task finish, drops the
// rest (destroying them unrun) and joins. Thread-safe.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace coffre {

class WorkQueue {
 public:
  // `name` is the log component of a task that throws.
  explicit WorkQueue(std::string name, size_t max_queued = 64);
  ~WorkQueue();  // Stop()
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // False (and `task` dropped unrun) when the queue is full or stopped.
  bool Post(std::function<void()> task);
  size_t queued() const;  // tasks waiting, the running one not included
  void Stop();

 private:
  void Run();

  const std::string name_;
  const size_t max_queued_;
  mutable std::mutex mu_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> tasks_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::thread thread_;
};

}  // namespace coffre
