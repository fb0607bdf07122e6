#pragma once
// TicketKeyRows: where a listener's TLS session ticket keys outlive the hub process, so that
// after a restart its devices resume their TLS sessions instead of all making full handshakes
// at once (net/ticket_keys.h). One row per listener in the metadata store, sealed by the
// customer layer like every other row: unreadable without the customer's key, so a revoked or
// deleted key takes them along, and a hub that starts Inaccessible (or cannot open the row)
// simply makes new keys. The plaintext goes from the envelope into locked memory and the copy
// between is wiped.

#include <memory>
#include <mutex>
#include <string>

#include "crypto/envelope_writer.h"
#include "hub/hub_keys.h"
#include "net/ticket_keys.h"
#include "storage/kv_store.h"

namespace coffre::hubservice {

class TicketKeyRows final : public net::TicketKeyStore {
 public:
  // kv and keys must outlive the rows; `listener` names the row ("mqtt", "amqp", "https").
  TicketKeyRows(storage::KvStore& kv, hub::HubKeys& keys, const std::string& listener);

  std::optional<crypto::SecretBytes> Load() override;
  void Save(const crypto::SecretBytes& sets) override;

  const std::string& row() const { return row_; }

 private:
  storage::KvStore& kv_;
  hub::HubKeys& keys_;
  const std::string row_;
  std::shared_ptr<crypto::EnvelopeWriter> writer_;
};

}  // namespace coffre::hubservice
