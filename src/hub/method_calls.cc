#include "hub/method_calls.h"

#include <cstdio>
#include <vector>

namespace coffre::hub {

namespace {

bool SameIdentity(const TwinId& a, const TwinId& b) {
  return a.device_id == b.device_id && a.module_id == b.module_id;
}

Status NotOnline(const TwinId& t) {
  return NotFound("The operation failed because the requested device isn't online or hasn't "
                  "registered the direct method callback: " + t.device_id +
                  (t.module_id ? "/" + *t.module_id : ""))
      .WithDetail("DeviceNotOnline");
}

Status TimedOut() {
  return DeadlineExceeded("Timed out waiting for the response from device.")
      .WithDetail("GatewayTimeout");
}

}  // namespace

bool ValidMethodName(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    if (c <= ' ' || c > '~' || std::string_view("/?#+&=%").find(c) != std::string_view::npos) {
      return false;
    }
  }
  return true;
}

MethodCalls::MethodCalls() : thread_([this] { Run(); }) {}

MethodCalls::~MethodCalls() { Stop(); }

void MethodCalls::Stop() {
  std::map<std::string, Call> left;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    left.swap(calls_);
  }
  changed_.notify_all();
  thread_.join();
  for (auto& [rid, call] : left) call.done(Unavailable("The hub is shutting down."));
}

void MethodCalls::SetSink(MethodSink& sink) { sink_ = &sink; }

size_t MethodCalls::pending() const {
  std::lock_guard lock(mu_);
  return calls_.size();
}

MethodCalls::Delivery MethodCalls::Deliver(const std::string& rid, const MethodRequest& request) {
  if (sink_ == nullptr) return Delivery::kNone;
  if (sink_->DeliverMethod(request.target, request.name, rid, request.payload)) {
    return Delivery::kHere;
  }
  if (!request.handed_over && sink_->HandOverMethod(rid, request)) return Delivery::kHandedOver;
  return Delivery::kNone;
}

MethodCalls::SteadyClock::duration MethodCalls::DeliveredWait(const MethodRequest& request,
                                                              bool handed) {
  if (!handed) return request.response_timeout;
  return request.connect_timeout + request.response_timeout + kHandOverMargin;
}

void MethodCalls::Invoke(MethodRequest request, Callback done) {
  std::string rid;
  {
    std::unique_lock lock(mu_);
    if (stopping_) {
      // Outside the lock: the completion may call back into this object.
      lock.unlock();
      done(Unavailable("The hub is shutting down."));
      return;
    }
    char buf[17];
    std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(next_rid_++));
    rid = buf;
    Call call;
    call.request = request;
    call.done = std::move(done);
    call.deadline = SteadyClock::time_point::max();  // set once delivery was tried
    calls_.emplace(rid, std::move(call));
  }
  // Registered before delivery, so an answer that comes back at once finds its call.
  Delivery delivery = Deliver(rid, request);
  Callback end;
  {
    std::lock_guard lock(mu_);
    auto it = calls_.find(rid);
    if (it == calls_.end()) return;  // answered already
    if (delivery != Delivery::kNone) {
      it->second.delivered = true;
      it->second.deadline =
          SteadyClock::now() + DeliveredWait(request, delivery == Delivery::kHandedOver);
    } else if (request.connect_timeout.count() == 0) {
      end = std::move(it->second.done);
      calls_.erase(it);
    } else {
      it->second.deadline = SteadyClock::now() + request.connect_timeout;
    }
  }
  if (end) {
    end(NotOnline(request.target));
    return;
  }
  changed_.notify_all();
}

void MethodCalls::Respond(const TwinId& from, const std::string& rid, MethodResponse response) {
  Callback done;
  {
    std::lock_guard lock(mu_);
    auto it = calls_.find(rid);
    if (it == calls_.end() || !SameIdentity(it->second.request.target, from)) return;
    done = std::move(it->second.done);
    calls_.erase(it);
  }
  done(std::move(response));
}

void MethodCalls::Subscribed(const TwinId& target) {
  std::vector<std::pair<std::string, MethodRequest>> waiting;
  {
    std::lock_guard lock(mu_);
    for (const auto& [rid, call] : calls_) {
      if (!call.delivered && SameIdentity(call.request.target, target)) {
        waiting.emplace_back(rid, call.request);
      }
    }
  }
  for (const auto& [rid, request] : waiting) {
    Delivery delivery = Deliver(rid, request);
    if (delivery == Delivery::kNone) continue;
    std::lock_guard lock(mu_);
    auto it = calls_.find(rid);
    if (it == calls_.end() || it->second.delivered) continue;
    it->second.delivered = true;
    it->second.deadline =
        SteadyClock::now() + DeliveredWait(request, delivery == Delivery::kHandedOver);
  }
  changed_.notify_all();
}

void MethodCalls::End(const std::string& rid, Result<MethodResponse> result) {
  Callback done;
  {
    std::lock_guard lock(mu_);
    auto it = calls_.find(rid);
    // Not yet marked delivered if the answer came back before HandOverMethod returned.
    if (it == calls_.end()) return;
    done = std::move(it->second.done);
    calls_.erase(it);
  }
  done(std::move(result));
}

void MethodCalls::Run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    auto now = SteadyClock::now();
    std::vector<std::pair<Call, bool>> ended;  // the call, whether it had been delivered
    auto next = SteadyClock::time_point::max();
    for (auto it = calls_.begin(); it != calls_.end();) {
      if (it->second.deadline <= now) {
        bool delivered = it->second.delivered;
        ended.emplace_back(std::move(it->second), delivered);
        it = calls_.erase(it);
      } else {
        next = std::min(next, it->second.deadline);
        ++it;
      }
    }
    if (!ended.empty()) {
      lock.unlock();
      for (auto& [call, delivered] : ended) {
        call.done(delivered ? Result<MethodResponse>(TimedOut())
                            : Result<MethodResponse>(NotOnline(call.request.target)));
      }
      lock.lock();
      continue;
    }
    if (next == SteadyClock::time_point::max()) {
      changed_.wait(lock);
    } else {
      changed_.wait_until(lock, next);
    }
  }
}

}  // namespace coffre::hub
