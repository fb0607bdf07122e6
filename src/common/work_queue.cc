#include "common/work_queue.h"

#include <exception>
#include <typeinfo>

#include "common/log.h"

namespace coffre {

WorkQueue::WorkQueue(std::string name, size_t max_queued)
    : name_(std::move(name)), max_queued_(max_queued), thread_([this] { Run(); }) {}

WorkQueue::~WorkQueue() { Stop(); }

size_t WorkQueue::queued() const {
  std::lock_guard<std::mutex> guard(mu_);
  return tasks_.size();
}

bool WorkQueue::Post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> guard(mu_);
    if (stopping_ || tasks_.size() >= max_queued_) return false;
    tasks_.push_back(std::move(task));
  }
  ready_.notify_one();
  return true;
}

void WorkQueue::Stop() {
  std::deque<std::function<void()>> dropped;
  {
    std::lock_guard<std::mutex> guard(mu_);
    stopping_ = true;
    dropped.swap(tasks_);
  }
  ready_.notify_all();
  if (thread_.joinable()) thread_.join();
  // `dropped` goes here, on the caller's thread, after the worker has stopped.
}

void WorkQueue::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    ready_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
    if (stopping_) return;
    std::function<void()> task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    try {
      task();
    } catch (const std::exception& e) {
      LogLine(name_, std::string("a queued task threw ") + typeid(e).name());
    } catch (...) {
      LogLine(name_, "a queued task threw an exception of unknown type");
    }
    task = nullptr;  // its captures go before the lock is taken again
    lock.lock();
  }
}

}  // namespace coffre
