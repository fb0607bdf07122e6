#include "vault/audit/audit_sampler.h"

namespace coffre::vault {

void AuditSampler::RollLocked(int64_t now_ms, bool all) {
  if (!open_) return;
  int64_t end = window_start_ + options_.interval.count();
  if (!all && now_ms < end) return;
  for (auto& [source, count] : counts_) {
    if (count.suppressed == 0) continue;
    ended_.push_back(Summary{source, count.refused, count.suppressed, window_start_,
                             std::min(end, now_ms)});
  }
  counts_.clear();
  open_ = false;
}

bool AuditSampler::Admit(std::string_view source, int64_t now_ms) {
  std::lock_guard<std::mutex> guard(mu_);
  RollLocked(now_ms, false);
  if (!open_) {
    open_ = true;
    window_start_ = now_ms;
  }
  auto it = counts_.find(std::string(source));
  if (it == counts_.end()) {
    std::string key(counts_.size() < options_.max_sources ? source : kOtherSources);
    it = counts_.try_emplace(std::move(key)).first;
  }
  Count& count = it->second;
  ++count.refused;
  if (count.refused <= options_.per_source) return true;
  ++count.suppressed;
  return false;
}

std::vector<AuditSampler::Summary> AuditSampler::Drain(int64_t now_ms, bool all) {
  std::lock_guard<std::mutex> guard(mu_);
  RollLocked(now_ms, all);
  std::vector<Summary> out;
  out.swap(ended_);
  return out;
}

}  // namespace coffre::vault
