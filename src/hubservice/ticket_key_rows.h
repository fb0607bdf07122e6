#pragma once
// TicketKeyRows: where a listener's TLS session ticket keys outlive the hub process, so that
// after a restart its devices resume their TLS sessions instead of all making full handshakes
// at once (net/ticket_keys.h). One row per listener in the metadata store, sealed by the
// customer layer like every other row: unreadable without the customer's key, so a revoked or
// deleted key takes them along, and a hub that starts Inaccessible (or cannot open the row)
// simply makes new keys, which it saves once the key is usable again (SavePending). The
// plaintext goes from the envelope into locked memory and the copy between is wiped.
// Thread-safe.

#include <memory>
#include <mutex>
#include <optional>
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
  // Saves the sets a Save could not (the customer's key was inaccessible), if any: called when
  // the key is usable again, so that a hub started Inaccessible does not wait for the next
  // rotation, up to an hour, to keep its devices' tickets across a restart.
  void SavePending();

  const std::string& row() const { return row_; }

 private:
  storage::KvStore& kv_;
  hub::HubKeys& keys_;
  Status Write(const crypto::SecretBytes& sets);  // requires mu_

  const std::string row_;
  std::mutex mu_;
  std::shared_ptr<crypto::EnvelopeWriter> writer_;  // under mu_
  std::optional<crypto::SecretBytes> pending_;      // under mu_: the sets last not saved
};

}  // namespace coffre::hubservice
