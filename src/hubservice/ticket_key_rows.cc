#include "hubservice/ticket_key_rows.h"

#include "common/log.h"
#include "crypto/secret_bytes.h"

namespace coffre::hubservice {

TicketKeyRows::TicketKeyRows(storage::KvStore& kv, hub::HubKeys& keys, const std::string& listener)
    : kv_(kv), keys_(keys), row_("tls-ticket-keys/" + listener) {}

std::optional<crypto::SecretBytes> TicketKeyRows::Load() {
  Result<Bytes> sealed = kv_.Get(row_);
  if (!sealed.has_value()) {
    if (sealed.error().code() != StatusCode::kNotFound) {
      LogLine("tls", "ticket keys (" + row_ + ") not read, new ones made: " + sealed.error().message());
    }
    return std::nullopt;
  }
  Result<Bytes> plain = keys_.Open(*sealed, AsBytes(row_));
  if (!plain.has_value()) {
    LogLine("tls", "ticket keys (" + row_ + ") not opened, new ones made: " + plain.error().message());
    return std::nullopt;
  }
  Result<crypto::SecretBytes> keys = crypto::SecretBytes::CopyOf(*plain);
  crypto::Cleanse(*plain);
  if (!keys.has_value()) return std::nullopt;
  return std::move(*keys);
}

void TicketKeyRows::Save(const crypto::SecretBytes& sets) {
  std::lock_guard lock(mu_);
  Status saved = Write(sets);
  if (saved.ok()) {
    pending_.reset();
    return;
  }
  // Kept in memory: this run's tickets work; the sets are saved once the key is usable again.
  LogLine("tls", "ticket keys (" + row_ + ") not saved for now: " + saved.message());
  Result<crypto::SecretBytes> copy = crypto::SecretBytes::CopyOf(sets.Reveal());
  if (copy.has_value()) pending_ = std::move(*copy);
}

void TicketKeyRows::SavePending() {
  std::lock_guard lock(mu_);
  if (!pending_) return;
  Status saved = Write(*pending_);
  if (!saved.ok()) {
    LogLine("tls", "ticket keys (" + row_ + ") still not saved: " + saved.message());
    return;
  }
  pending_.reset();
}

Status TicketKeyRows::Write(const crypto::SecretBytes& sets) {
  if (!writer_ || writer_->exhausted()) {
    COFFRE_ASSIGN_OR_RETURN(writer_, keys_.StartWriter(hub::kRegistryScope));
  }
  COFFRE_ASSIGN_OR_RETURN(Bytes envelope, writer_->Seal(AsBytes(row_), sets.Reveal()));
  return kv_.Put(row_, envelope, /*sync=*/true);
}

}  // namespace coffre::hubservice
