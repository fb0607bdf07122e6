#pragma once
// TwinStore: the twins of devices and modules, one sealed row each (hub/sealed_rows.h; AAD = the
// row key, an HMAC of the identity). A twin belongs to one incarnation of its identity: the row
// records the identity's generation id, and a device deleted and created again under the same id
// starts with a fresh twin even if the old row was not erased yet. Every update is a
// read-modify-write under a lock striped by identity, durable before it returns. Thread-safe.

#include <array>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/result.h"
#include "hub/sealed_rows.h"
#include "hub/twin_document.h"

namespace coffre::hub {

struct TwinId {
  std::string device_id;
  std::optional<std::string> module_id;
};

// "device" or "device/module": how DeviceConnections names the identity's connection.
inline std::string IdentityKeyOf(const TwinId& id) {
  return id.module_id ? id.device_id + "/" + *id.module_id : id.device_id;
}

class TwinStore {
 public:
  // rows and clock must outlive the store.
  TwinStore(SealedRows& rows, Clock& clock) : rows_(rows), clock_(clock) {}

  // The twin of the identity incarnation `generation_id` (a fresh one if none is stored).
  Result<TwinDocument> Get(const TwinId& id, const std::string& generation_id);

  // Applies `change` to the current twin and stores the result. `if_match`: empty or "*" for
  // any, else the twin's etag, quoted or not (FAILED_PRECONDITION otherwise, as Azure's 412). A
  // change that fails leaves the stored twin as it was. Atomic across the hub nodes sharing a
  // store (hub/sealed_rows.h, Update): `change` may run more than once, and must not use it.
  using Change = std::function<Status(TwinDocument&)>;
  Result<TwinDocument> Update(const TwinId& id, const std::string& generation_id,
                              const std::string& if_match, const Change& change);

  // Erases the twin; for a device (no module id) its modules' twins too.
  Status Erase(const TwinId& id);

 private:
  Result<std::string> DevicePrefix(const std::string& device_id);
  Result<std::string> Row(const TwinId& id);
  Result<TwinDocument> Load(const std::string& row, const std::string& generation_id);
  // The twin in a stored record (a new twin if there is none, or it is an earlier device's).
  Result<TwinDocument> FromRecord(Result<nlohmann::json> record, const std::string& generation_id);
  std::mutex& Stripe(const TwinId& id);

  SealedRows& rows_;
  Clock& clock_;
  std::array<std::mutex, 64> stripes_;
};

}  // namespace coffre::hub
