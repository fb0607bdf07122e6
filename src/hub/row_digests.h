#pragma once
// RowDigests: tamper evidence for the hub's sealed metadata rows (SealedRows: devices, modules,
// twins, C2D queues and feedback, policies, consumer groups, checkpoints, device keys and
// erasures). A sealed row opens only under its own row key, but an older sealed copy of the same
// row opens just as well: put back, it would be served as the truth. So each table keeps a
// digest of its rows: the XOR, over the table's rows, of HMAC-SHA256(key derived from the root,
// row key || sealed value), and its row count, all in one sealed row ("row-digests", AAD = its
// name). Every write through SealedRows updates the digest in the same atomic batch. At start
// (Check) each table is read and compared: a row put back from an older copy, removed, added or
// replaced outside the hub changes its table's digest, and the table is reported.
//
// The MAC is keyed (an attacker cannot compute terms to cancel each other out, as with a plain
// XOR of hashes). What it cannot see: the whole metadata store put back from one older copy
// (consistent with itself), and every digest row deleted (the next start takes the rows as they
// are, says so in the log, and marks the digests re-anchored).
//
// Hub nodes sharing a cluster store each keep a shard of their own, "row-digests/<node id>",
// holding what their writes changed (XOR terms, and the row count as a difference): a table's
// digest is the XOR of every shard and its count their sum, so a node never rewrites another's.
// A write reads the rows' old values and its shard inside one KvStore transaction locking them
// (storage/kv_store.h), so a row written by two nodes at once is counted once. The embedded
// hub's shard is the single row "row-digests". Check reads every table and shard in one snapshot.
// Writes of one node are serialized (the shard's lock); the fsync of a synced write is taken
// after it, so concurrent writers still share it. Thread-safe.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"
#include "crypto/envelope_writer.h"
#include "storage/kv_store.h"

namespace coffre::hub {

class HubKeys;

struct MetadataBreak {
  std::string table;
  std::string what;
};

struct TableDigest {
  Bytes digest = Bytes(32);  // XOR of the rows' MACs
  uint64_t rows = 0;
};

class RowDigests {
 public:
  // kv and keys must outlive the digests.
  RowDigests(storage::KvStore& kv, HubKeys& keys) : kv_(kv), keys_(keys) {}

  // The tables whose rows are digested: row keys "<table>/...".
  static const std::vector<std::string_view>& Tables();

  // A cluster-mode node's shard (its node id) instead of the embedded hub's single row. Before
  // the first Write or Check.
  void UseShard(const std::string& node_id);

  // Writes `batch` (rows of the tables above: sealed values, or erasures) with the new digests,
  // in one transaction; durable on return if `sync`.
  Status Write(std::vector<storage::KvWrite> batch, bool sync);
  // Read-modify-write: `build` reads rows through the transaction (the `lock_rows` locked from
  // the first read to the commit, on every hub node) and returns the batch to write, as Write.
  // Its error writes nothing and is returned. It may run more than once, and must not write to
  // the store itself. Every row it writes must be one of `lock_rows` or under one ending in '/'
  // (a prefix lock, e.g. a device's C2D queue "c2d/<h>/"): a prefix lock covers the rows under
  // it only if every writer of those rows locks that prefix.
  using BuildBatch = std::function<Result<std::vector<storage::KvWrite>>(storage::KvTxn&)>;
  Status Update(const std::vector<std::string>& lock_rows, const BuildBatch& build, bool sync);

  // Reads every table and compares it with its digest; remembers and returns what differs.
  // Once per start (later calls return what the first found; Recheck reads again).
  Result<std::vector<MetadataBreak>> Check();
  Result<std::vector<MetadataBreak>> Recheck();
  bool reanchored() const;  // no digest row was found and the rows were taken as they are

 private:
  using Digests = std::map<std::string, TableDigest, std::less<>>;
  // `wrote`: whether the batch built had rows (else nothing was written).
  Status UpdateWithShard(const std::vector<std::string>& lock_rows, const BuildBatch& build,
                         bool& wrote);
  // Once: with no digest row at all, the rows as they are become the digests.
  Status AnchorOnce();
  Result<Digests> Compute(storage::KvStore& kv);
  Result<Bytes> Mac(std::string_view row, ByteSpan sealed);
  // Every digested table in `digests`, those it lacked empty.
  static void AddMissingTables(Digests& digests);
  // A digest row opened and decoded; every table present.
  Result<Digests> OpenShard(std::string_view row, ByteSpan sealed);
  // The writer that seals digest rows, started (a store write) if there is none or it is spent.
  Result<std::shared_ptr<crypto::EnvelopeWriter>> Writer();

  storage::KvStore& kv_;
  HubKeys& keys_;
  std::string shard_row_;                                // this node's digest row
  std::mutex write_mu_;                                  // one Write at a time
  mutable std::mutex mu_;
  bool anchored_ = false;                                // guarded by mu_
  std::shared_ptr<crypto::EnvelopeWriter> writer_;       // guarded by mu_
  bool checked_ = false;                                 // guarded by mu_
  bool reanchored_ = false;                              // guarded by mu_
  std::vector<MetadataBreak> breaks_;                    // guarded by mu_
};

}  // namespace coffre::hub
