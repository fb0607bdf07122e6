#include "hub/quotas.h"

#include <algorithm>

namespace coffre::hub {

Quotas::Quotas(QuotaOptions options)
    : options_(options), d2c_(std::make_shared<RateLimiter>(options.d2c_sends, 1)) {}

std::chrono::milliseconds Quotas::TakeD2c(TimePoint now, double messages) {
  return d2c_.load()->Take("d2c", now, messages);
}

void Quotas::ShareAmong(size_t nodes) {
  if (nodes == 0) nodes = 1;
  if (sharing_.exchange(nodes) == nodes) return;
  RateLimit share = options_.d2c_sends;
  if (!share.unlimited()) {
    share.per_second /= static_cast<double>(nodes);
    share.burst = std::max(1.0, share.burst / static_cast<double>(nodes));  // one message fits
  }
  d2c_.store(std::make_shared<RateLimiter>(share, 1));
}

}  // namespace coffre::hub
