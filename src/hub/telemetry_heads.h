#pragma once
// TelemetryHeads: for each telemetry partition, what the hub last acknowledged (the end of the
// log and the chain link after its last record), the oldest record retention keeps, and the
// integrity breaks found in it, sealed by the customer layer in the metadata store, row
// "telemetry-head/<partition>". Comparing a partition's log with its head shows records removed
// from the end (truncation, a segment rolled back) or from the start (before retention), and a
// last record replaced: the log alone cannot. Keeping the breaks in the head keeps them known
// across restarts until retention passes them. Thread-safe.

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "crypto/envelope_writer.h"
#include "hub/hub_keys.h"
#include "storage/kv_store.h"
#include "storage/record_chain.h"

namespace coffre::hub {

// Records [from, to) of a partition that are not what the hub acknowledged: missing, damaged,
// replaced, moved or out of order. `what` says which and how it was found.
struct IntegrityBreak {
  uint64_t from = 0;
  uint64_t to = 0;
  std::string what;
  bool operator==(const IntegrityBreak&) const = default;
};

struct TelemetryHead {
  uint64_t first = 0;         // the oldest record kept (retention removes whole segments below)
  uint64_t end = 0;           // one past the last acknowledged record
  storage::ChainLink link{};  // the chain link after record end - 1
  std::vector<IntegrityBreak> breaks;  // at most kMaxHeadBreaks, `what` cut to 300 bytes
};

inline constexpr size_t kMaxHeadBreaks = 16;

// Two heads of one partition as one: the later end with its link, the later start, and the
// breaks of both that the start has not passed (at most kMaxHeadBreaks, the first ones).
TelemetryHead MergeHeads(const TelemetryHead& stored, const TelemetryHead& head);

class TelemetryHeads {
 public:
  // kv and keys must outlive the heads; hub_name is bound into each head's AAD.
  TelemetryHeads(storage::KvStore& kv, HubKeys& keys, std::string hub_name)
      : kv_(kv), keys_(keys), hub_name_(std::move(hub_name)) {}

  // nullopt if the partition has no head yet; DATA_LOSS if it does not open or is malformed;
  // UNAVAILABLE while the keys are locked; other errors as the store gives them (transient).
  Result<std::optional<TelemetryHead>> Load(int partition);
  // `sync`: durable on return; else at the store's next sync (a process crash keeps it, a power
  // loss may take it: the head then lags, never leads).
  Status Store(int partition, const TelemetryHead& head, bool sync);
  // Several writers of a partition (hub nodes on one store), each storing heads as it commits:
  // `head` merged into the stored one under the row's lock (MergeHeads), stored and returned,
  // so that no node's head takes back what another's advanced.
  Result<TelemetryHead> Merge(int partition, const TelemetryHead& head, bool sync);

 private:
  std::string Row(int partition) const;
  std::string Aad(int partition) const;
  Result<TelemetryHead> Open(int partition, ByteSpan sealed);
  Result<Bytes> Seal(int partition, const TelemetryHead& head, crypto::EnvelopeWriter& writer);
  // The heads' writer, started if there is none or it is spent.
  Result<std::shared_ptr<crypto::EnvelopeWriter>> Writer();

  storage::KvStore& kv_;
  HubKeys& keys_;
  std::string hub_name_;
  std::mutex mu_;  // guards writer_, and each Seal with it
  // The heads' own data key (registry scope), not a partition's: a head is no record.
  std::shared_ptr<crypto::EnvelopeWriter> writer_;  // guarded by mu_
};

}  // namespace coffre::hub
