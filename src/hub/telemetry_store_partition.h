#pragma once
// TelemetryStore's state for one partition, shared by telemetry_store.cc (writing) and
// telemetry_integrity.cc (checking and reading). Private to those two files.

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "crypto/envelope_writer.h"
#include "hub/telemetry_heads.h"
#include "hub/telemetry_store.h"
#include "storage/record_chain.h"
#include "storage/segment_log.h"

namespace coffre::hub {

// The chain link that follows a record as stored (zeros after a record without a link: the
// chain starts again there).
inline storage::ChainLink LinkAfter(const storage::StoredRecord& r) {
  return r.linked ? storage::NextLink(r.link, r.sequence, r.time_ms, r.payload)
                  : storage::ChainLink{};
}

// Whether `r` follows `prev` in the chain (records without links cannot say, and pass).
inline bool Follows(const storage::StoredRecord& prev, const storage::StoredRecord& r) {
  return !prev.linked || !r.linked || LinkAfter(prev) == r.link;
}

// Records `first` and `first + 1`, which do not chain.
inline std::string NotChained(int partition, uint64_t first) {
  return "telemetry partition " + std::to_string(partition) + ", records " +
         std::to_string(first) + ".." + std::to_string(first + 1) +
         ": record " + std::to_string(first + 1) + " does not follow record " +
         std::to_string(first) + " in the chain (one of them replaced, reordered, or put back "
         "from an older copy)";
}

inline std::string Range(uint64_t from, uint64_t to) {
  return to == from + 1 ? "record " + std::to_string(from)
                        : "records " + std::to_string(from) + ".." + std::to_string(to - 1);
}

inline std::string Where(int partition, const IntegrityBreak& b) {
  return "telemetry partition " + std::to_string(partition) + ", " + Range(b.from, b.to) + ": " +
         b.what;
}

struct TelemetryStore::Partition {
  std::unique_ptr<storage::PartitionLog> log;
  std::shared_ptr<crypto::EnvelopeWriter> writer;  // this incarnation's data key
  Bytes plain;                                     // reused encode buffer
  std::string aad;                                 // reused AAD buffer
  std::vector<Bytes> sealed;                       // reused envelope buffers
  int64_t last_enqueued_ms = 0;                    // times never decrease (SeekTime relies on it)
  std::chrono::steady_clock::time_point writer_started;

  // Writer thread only.
  bool prepared = false;       // the log resumed where Check said
  storage::ChainLink link{};   // the next record's
  TelemetryHead head;          // as last stored (with the breaks known)
  uint64_t written_end = 0;    // several writers: one past this node's last batch

  // Check's findings, once.
  std::mutex check_mu;
  bool checked = false;                  // guarded by check_mu
  std::vector<IntegrityBreak> found;     // guarded by check_mu
  uint64_t resume_at = 0;                // guarded by check_mu
  storage::ChainLink resume_link{};      // guarded by check_mu
  std::optional<TelemetryHead> stored_head;  // guarded by check_mu: as found at the check
};

}  // namespace coffre::hub
