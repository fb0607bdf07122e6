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
  Status saved = [&]() -> Status {
    if (!writer_ || writer_->exhausted()) {
      COFFRE_ASSIGN_OR_RETURN(writer_, keys_.StartWriter(hub::kRegistryScope));
    }
    COFFRE_ASSIGN_OR_RETURN(Bytes envelope, writer_->Seal(AsBytes(row_), sets.Reveal()));
    return kv_.Put(row_, envelope, /*sync=*/true);
  }();
  if (!saved.ok()) {
    // Kept in memory: this run's tickets work; after a restart its devices make full handshakes.
    LogLine("tls", "ticket keys (" + row_ + ") kept in memory only: " + saved.message());
  }
}

}  // namespace coffre::hubservice
