#include "vault/rotation/vault_clock.h"

#include <chrono>

#include "vault/keys/iso_duration.h"

namespace coffre::vault {
namespace {

constexpr const char* kRecord = "vault/clock";
constexpr int64_t kMaxAdvance = int64_t{100} * 365 * kSecondsPerDay;

}  // namespace

Result<std::unique_ptr<VaultClock>> VaultClock::Open(SealedStore& store, const Clock& base) {
  int64_t offset = 0;
  Result<nlohmann::json> record = store.GetJson(kRecord);
  if (record.has_value()) {
    auto it = record->find("offset_seconds");
    if (it == record->end() || !it->is_number_integer() || it->get<int64_t>() < 0) {
      return DataLoss("the vault clock record is malformed");
    }
    offset = it->get<int64_t>();
  } else if (record.error().code() != StatusCode::kNotFound) {
    return record.error();
  }
  return std::unique_ptr<VaultClock>(new VaultClock(store, base, offset));
}

Status VaultClock::Advance(int64_t seconds) {
  if (seconds < 1 || seconds > kMaxAdvance) {
    return InvalidArgument("advance_seconds must be between 1 and 100 years (3153600000).");
  }
  std::lock_guard lock(advance_mu_);
  int64_t offset = offset_.load() + seconds;
  if (offset > kMaxAdvance) {
    return InvalidArgument("the test clock cannot run more than 100 years ahead.");
  }
  COFFRE_RETURN_IF_ERROR(store_.PutJson(kRecord, {{"offset_seconds", offset}}));
  offset_.store(offset, std::memory_order_release);
  return Status::Ok();
}

}  // namespace coffre::vault
