#pragma once
// Token buckets for throttling: TokenBucket is one bucket (thread-compatible); RateLimiter keeps
// one bucket per key (a source address, a hub-wide operation class) behind a mutex, with a
// bounded number of keys so that many sources cannot grow it without end. Time is passed in
// (steady clock), so tests advance it instead of sleeping. Thread-safe (RateLimiter).

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace coffre {

// `per_second` tokens are added each second up to `burst`; per_second <= 0 means no limit.
struct RateLimit {
  double per_second = 0;
  double burst = 0;
  bool unlimited() const { return per_second <= 0; }
};

class TokenBucket {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  TokenBucket() = default;
  TokenBucket(RateLimit limit, TimePoint now);

  // Takes `cost` tokens if there are that many; else takes none and returns how long until
  // there will be (always > 0). Zero means taken.
  std::chrono::milliseconds Take(TimePoint now, double cost = 1);
  // True once the bucket has refilled to its burst: it carries no state worth keeping.
  bool Full(TimePoint now) const;

 private:
  double Level(TimePoint now) const;

  RateLimit limit_;
  double tokens_ = 0;
  TimePoint updated_{};
};

class RateLimiter {
 public:
  using TimePoint = TokenBucket::TimePoint;

  explicit RateLimiter(RateLimit limit, size_t max_keys = 65536);

  // TokenBucket::Take for `key`'s bucket, created full on first use.
  std::chrono::milliseconds Take(std::string_view key, TimePoint now, double cost = 1);
  // Like Take, but only looks: a key over its limit is refused without being charged.
  std::chrono::milliseconds Peek(std::string_view key, TimePoint now) const;
  const RateLimit& limit() const { return limit_; }
  size_t keys() const;

 private:
  void MakeRoom(TimePoint now);  // with mu_ held

  const RateLimit limit_;
  const size_t max_keys_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, TokenBucket> buckets_;  // guarded by mu_
};

}  // namespace coffre
