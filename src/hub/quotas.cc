#include "hub/quotas.h"

namespace coffre::hub {

Quotas::Quotas(QuotaOptions options) : options_(options), d2c_(options.d2c_sends, 1) {}

std::chrono::milliseconds Quotas::TakeD2c(TimePoint now, double messages) {
  return d2c_.Take("d2c", now, messages);
}

}  // namespace coffre::hub
