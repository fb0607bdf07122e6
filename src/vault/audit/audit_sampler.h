#pragma once
// AuditSampler: decides which requests that did not authenticate the audit log records one by
// one. In each interval (a fixed window), the first `per_source` of each client address are
// recorded; the rest are only counted, and when the window ends each address with uncounted
// refusals gets one summary. At most `max_sources` addresses are told apart per window; the
// others share one "(other)" count, so a client with many addresses cannot grow it.
// Time is passed in (milliseconds), so tests advance it. Thread-safe.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace coffre::vault {

struct AuditSamplerOptions {
  uint64_t per_source = 10;                    // recorded one by one per address and window
  std::chrono::milliseconds interval{60'000};  // the window
  size_t max_sources = 4096;
};

// The client address summaries use for addresses past max_sources.
inline constexpr std::string_view kOtherSources = "(other)";

class AuditSampler {
 public:
  explicit AuditSampler(AuditSamplerOptions options) : options_(options) {}

  // True if this refusal from `source` is to be recorded in full; false if only counted.
  bool Admit(std::string_view source, int64_t now_ms);

  struct Summary {
    std::string source;
    uint64_t refused = 0;     // all refusals from the source in the window
    uint64_t suppressed = 0;  // those not recorded one by one (> 0)
    int64_t from_ms = 0;      // the window
    int64_t to_ms = 0;
  };
  // The summaries of windows that ended by `now_ms` (all windows, ended or not, with `all`),
  // each once. Sources with nothing suppressed have none.
  std::vector<Summary> Drain(int64_t now_ms, bool all = false);

 private:
  struct Count {
    uint64_t refused = 0;
    uint64_t suppressed = 0;
  };
  void RollLocked(int64_t now_ms, bool all);  // mu_ held

  const AuditSamplerOptions options_;
  std::mutex mu_;
  int64_t window_start_ = 0;                         // guarded by mu_
  bool open_ = false;                                // a window is open: guarded by mu_
  std::unordered_map<std::string, Count> counts_;    // guarded by mu_
  std::vector<Summary> ended_;                       // guarded by mu_
};

}  // namespace coffre::vault
