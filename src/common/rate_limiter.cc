#include "common/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace coffre {

TokenBucket::TokenBucket(RateLimit limit, TimePoint now)
    : limit_(limit), tokens_(limit.burst), updated_(now) {}

double TokenBucket::Level(TimePoint now) const {
  if (now <= updated_) return tokens_;
  double elapsed = std::chrono::duration<double>(now - updated_).count();
  return std::min(limit_.burst, tokens_ + elapsed * limit_.per_second);
}

std::chrono::milliseconds TokenBucket::Take(TimePoint now, double cost) {
  if (limit_.unlimited()) return std::chrono::milliseconds(0);
  tokens_ = Level(now);
  updated_ = std::max(updated_, now);
  if (tokens_ >= cost) {
    tokens_ -= cost;
    return std::chrono::milliseconds(0);
  }
  double wait_s = (cost - tokens_) / limit_.per_second;
  // The epsilon keeps float noise (1.0000001 ms) from rounding a wait up a whole millisecond.
  int64_t wait_ms = static_cast<int64_t>(std::ceil(wait_s * 1000 - 1e-6));
  return std::chrono::milliseconds(std::max<int64_t>(1, wait_ms));
}

bool TokenBucket::Full(TimePoint now) const { return Level(now) >= limit_.burst; }

RateLimiter::RateLimiter(RateLimit limit, size_t max_keys)
    : limit_(limit), max_keys_(std::max<size_t>(1, max_keys)) {}

std::chrono::milliseconds RateLimiter::Take(std::string_view key, TimePoint now, double cost) {
  if (limit_.unlimited()) return std::chrono::milliseconds(0);
  std::lock_guard<std::mutex> guard(mu_);
  auto it = buckets_.find(std::string(key));
  if (it == buckets_.end()) {
    MakeRoom(now);
    it = buckets_.emplace(std::string(key), TokenBucket(limit_, now)).first;
  }
  return it->second.Take(now, cost);
}

std::chrono::milliseconds RateLimiter::Peek(std::string_view key, TimePoint now) const {
  if (limit_.unlimited()) return std::chrono::milliseconds(0);
  std::lock_guard<std::mutex> guard(mu_);
  auto it = buckets_.find(std::string(key));
  if (it == buckets_.end()) return std::chrono::milliseconds(0);
  TokenBucket copy = it->second;
  return copy.Take(now);
}

size_t RateLimiter::keys() const {
  std::lock_guard<std::mutex> guard(mu_);
  return buckets_.size();
}

// Full buckets go first (they hold nothing); if every bucket is still draining, an arbitrary one
// goes: a source that floods the table with new keys only forgets others' partial debt.
void RateLimiter::MakeRoom(TimePoint now) {
  if (buckets_.size() < max_keys_) return;
  std::erase_if(buckets_, [now](const auto& entry) { return entry.second.Full(now); });
  if (buckets_.size() >= max_keys_) buckets_.erase(buckets_.begin());
}

}  // namespace coffre
