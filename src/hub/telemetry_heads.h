#pragma once
// TelemetryHeads: for each telemetry partition, what the hub last acknowledged (the end of the
// log and the chain link after its last record) and the oldest record retention keeps, sealed by
// the customer layer in the metadata store, row "telemetry-head/<partition>". Comparing a
// partition's log with its head shows records removed from the end (truncation, a segment rolled
// back) or from the start (before retention), and a last record replaced: the log alone cannot.
// Thread-safe.

#include <optional>
#include <string>

#include "common/result.h"
#include "crypto/envelope_writer.h"
#include "hub/hub_keys.h"
#include "storage/kv_store.h"
#include "storage/record_chain.h"

namespace coffre::hub {

struct TelemetryHead {
  uint64_t first = 0;         // the oldest record kept (retention removes whole segments below)
  uint64_t end = 0;           // one past the last acknowledged record
  storage::ChainLink link{};  // the chain link after record end - 1
};

class TelemetryHeads {
 public:
  // kv and keys must outlive the heads; hub_name is bound into each head's AAD.
  TelemetryHeads(storage::KvStore& kv, HubKeys& keys, std::string hub_name)
      : kv_(kv), keys_(keys), hub_name_(std::move(hub_name)) {}

  // nullopt if the partition has no head yet; DATA_LOSS if it does not open.
  Result<std::optional<TelemetryHead>> Load(int partition);
  // Sealed by the partition's writer. `sync`: durable on return; else at the store's next sync
  // (a process crash keeps it, a power loss may take it: the head then lags, never leads).
  Status Store(int partition, const TelemetryHead& head, crypto::EnvelopeWriter& writer, bool sync);

 private:
  std::string Row(int partition) const;
  std::string Aad(int partition) const;

  storage::KvStore& kv_;
  HubKeys& keys_;
  std::string hub_name_;
};

}  // namespace coffre::hub
