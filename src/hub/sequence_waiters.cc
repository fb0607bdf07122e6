#include "hub/sequence_waiters.h"

#include <algorithm>

namespace coffre::hub {

SequenceWaiters::SequenceWaiters() : thread_([this] { Run(); }) {}

SequenceWaiters::~SequenceWaiters() {
  {
    std::lock_guard<std::mutex> guard(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void SequenceWaiters::Wait(int partition, uint64_t from, Clock::time_point deadline,
                           const std::function<uint64_t()>& end_now, Callback done) {
  Wake now;
  {
    std::lock_guard<std::mutex> guard(mu_);
    if (end_now() > from) {
      now = Wake::kData;
    } else if (stopping_) {
      now = Wake::kWoken;
    } else if (Clock::now() >= deadline) {
      now = Wake::kDeadline;
    } else {
      bool earliest = std::all_of(waiters_.begin(), waiters_.end(),
                                  [&](const Waiter& w) { return deadline < w.deadline; });
      waiters_.push_back({partition, from, deadline, std::move(done)});
      count_.store(waiters_.size());
      if (earliest) changed_.notify_all();
      return;
    }
  }
  done(now);
}

void SequenceWaiters::Notify(int partition, uint64_t end) {
  if (count_.load() == 0) return;  // the common case: nobody polls
  std::vector<Callback> ready;
  {
    std::lock_guard<std::mutex> guard(mu_);
    auto moved = std::partition(waiters_.begin(), waiters_.end(), [&](const Waiter& w) {
      return w.partition != partition || w.from >= end;
    });
    for (auto it = moved; it != waiters_.end(); ++it) ready.push_back(std::move(it->done));
    waiters_.erase(moved, waiters_.end());
    count_.store(waiters_.size());
  }
  for (Callback& done : ready) done(Wake::kData);
}

void SequenceWaiters::WakeAll() {
  std::vector<Waiter> all;
  {
    std::lock_guard<std::mutex> guard(mu_);
    all.swap(waiters_);
    count_.store(0);
  }
  for (Waiter& w : all) w.done(Wake::kWoken);
}

void SequenceWaiters::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (waiters_.empty()) {
      changed_.wait(lock);
      continue;
    }
    auto earliest = std::min_element(waiters_.begin(), waiters_.end(), [](const Waiter& a, const Waiter& b) {
                      return a.deadline < b.deadline;
                    })->deadline;
    if (Clock::now() < earliest) {
      changed_.wait_until(lock, earliest);
      continue;
    }
    auto now = Clock::now();
    auto expired = std::partition(waiters_.begin(), waiters_.end(),
                                  [&](const Waiter& w) { return w.deadline > now; });
    std::vector<Callback> due;
    for (auto it = expired; it != waiters_.end(); ++it) due.push_back(std::move(it->done));
    waiters_.erase(expired, waiters_.end());
    count_.store(waiters_.size());
    lock.unlock();
    for (Callback& done : due) done(Wake::kDeadline);
    lock.lock();
  }
}

}  // namespace coffre::hub
