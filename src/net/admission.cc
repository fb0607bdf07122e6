#include "net/admission.h"

namespace coffre::net {

bool Admission::Admit(const std::string& source) {
  std::lock_guard<std::mutex> guard(mu_);
  if (total_ >= max_total_) return false;
  auto it = by_source_.find(source);
  if (it != by_source_.end() && it->second >= max_per_source_) return false;
  if (max_per_source_ == 0) return false;
  ++total_;
  if (it == by_source_.end()) {
    by_source_.emplace(source, 1);
  } else {
    ++it->second;
  }
  return true;
}

void Admission::Release(const std::string& source) {
  std::lock_guard<std::mutex> guard(mu_);
  auto it = by_source_.find(source);
  if (it == by_source_.end()) return;
  --total_;
  if (--it->second == 0) by_source_.erase(it);
}

size_t Admission::pending() const {
  std::lock_guard<std::mutex> guard(mu_);
  return total_;
}

}  // namespace coffre::net
