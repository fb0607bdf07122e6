#include "hub/row_digests.h"

#include <algorithm>

#include "common/log.h"
#include "hub/hub_keys.h"

namespace coffre::hub {
namespace {

constexpr std::string_view kDigestRow = "row-digests";

std::string_view TableOf(std::string_view row) { return row.substr(0, row.find('/')); }

void XorInto(Bytes& digest, ByteSpan mac) {
  for (size_t i = 0; i < digest.size() && i < mac.size(); ++i) digest[i] ^= mac[i];
}

// Whether `row` is one of the lock rows or under one ending in '/' (a prefix lock).
bool Locked(const std::vector<std::string>& lock_rows, std::string_view row) {
  return std::any_of(lock_rows.begin(), lock_rows.end(), [&](const std::string& lock) {
    return lock == row || (lock.ends_with('/') && row.starts_with(lock));
  });
}

}  // namespace

const std::vector<std::string_view>& RowDigests::Tables() {
  // Every table SealedRows writes (a row of another is refused: add its table here).
  static const std::vector<std::string_view> tables = {
      "dev", "mod", "twin", "c2d", "c2dfeedback", "c2dfeedback-state", "policy", "cg", "ckpt",
      "device-key", "device-erasure"};
  return tables;
}

Result<Bytes> RowDigests::Mac(std::string_view row, ByteSpan sealed) {
  std::string data;
  data.reserve(8 + row.size() + sealed.size());
  data += std::to_string(row.size());
  data += ':';
  data += row;
  data.append(reinterpret_cast<const char*>(sealed.data()), sealed.size());
  return keys_.Hmac("row-digest", data);
}

Result<RowDigests::Digests> RowDigests::Compute(storage::KvStore& kv) {
  Digests out;
  for (std::string_view table : Tables()) {
    TableDigest& d = out[std::string(table)];
    Status failed;
    COFFRE_RETURN_IF_ERROR(kv.Scan(std::string(table) + "/", [&](std::string_view key, ByteSpan value) {
      Result<Bytes> mac = Mac(key, value);
      if (!mac.has_value()) {
        failed = mac.error();
        return false;
      }
      XorInto(d.digest, *mac);
      ++d.rows;
      return true;
    }));
    COFFRE_RETURN_IF_ERROR(failed);
  }
  return out;
}

// The digest row's plaintext: version 1, the table count (2 bytes), then per table its name's
// length (1 byte), its name, its digest (32) and its row count (8), big-endian. Binary: this is
// written with every row.
Bytes EncodeDigests(const std::map<std::string, TableDigest, std::less<>>& digests) {
  Bytes out;
  out.reserve(3 + digests.size() * 56);
  out.push_back(std::byte{1});
  std::byte count[2];
  PutU16(count, static_cast<uint16_t>(digests.size()));
  out.insert(out.end(), count, count + 2);
  for (const auto& [name, d] : digests) {
    out.push_back(static_cast<std::byte>(name.size()));
    ByteSpan n = AsBytes(name);
    out.insert(out.end(), n.begin(), n.end());
    out.insert(out.end(), d.digest.begin(), d.digest.end());
    std::byte rows[8];
    PutU64(rows, d.rows);
    out.insert(out.end(), rows, rows + 8);
  }
  return out;
}

Result<std::map<std::string, TableDigest, std::less<>>> DecodeDigests(ByteSpan in) {
  auto malformed = [] { return DataLoss("the metadata digest row is malformed"); };
  if (in.size() < 3 || in[0] != std::byte{1}) return malformed();
  size_t count = GetU16(in.data() + 1);
  size_t at = 3;
  std::map<std::string, TableDigest, std::less<>> out;
  for (size_t i = 0; i < count; ++i) {
    if (at >= in.size()) return malformed();
    size_t len = static_cast<size_t>(in[at++]);
    if (in.size() - at < len + 40) return malformed();
    TableDigest& d = out[std::string(AsChars(in.subspan(at, len)))];
    at += len;
    d.digest.assign(in.begin() + static_cast<ptrdiff_t>(at), in.begin() + static_cast<ptrdiff_t>(at + 32));
    d.rows = GetU64(in.data() + at + 32);
    at += 40;
  }
  if (at != in.size()) return malformed();
  return out;
}

void RowDigests::AddMissingTables(Digests& digests) {
  for (std::string_view table : Tables()) digests[std::string(table)];  // a new table: empty
}

void RowDigests::UseShard(const std::string& node_id) {
  shard_row_ = std::string(kDigestRow) + "/" + node_id;
}

Result<RowDigests::Digests> RowDigests::OpenShard(std::string_view row, ByteSpan sealed) {
  COFFRE_ASSIGN_OR_RETURN(Bytes plain, keys_.Open(sealed, AsBytes(row)));
  COFFRE_ASSIGN_OR_RETURN(Digests digests, DecodeDigests(plain));
  AddMissingTables(digests);
  return digests;
}

Result<std::shared_ptr<crypto::EnvelopeWriter>> RowDigests::Writer() {
  std::lock_guard<std::mutex> guard(mu_);
  if (!writer_ || writer_->exhausted()) {
    COFFRE_ASSIGN_OR_RETURN(writer_, keys_.StartWriter(kRegistryScope));
  }
  return writer_;
}

Status RowDigests::AnchorOnce() {
  {
    std::lock_guard<std::mutex> guard(mu_);
    if (anchored_) return Status::Ok();
  }
  bool any = false;
  COFFRE_RETURN_IF_ERROR(kv_.Scan(kDigestRow, [&](std::string_view, ByteSpan) {
    any = true;
    return false;
  }));
  uint64_t rows = 0;
  if (!any) {
    // A hub made before the digests, or every digest row deleted: take the rows as they are.
    // Into the base row, only if still absent: of two nodes doing this at once, one does.
    COFFRE_ASSIGN_OR_RETURN(Digests digests, Compute(kv_));
    for (const auto& [name, d] : digests) rows += d.rows;
    COFFRE_ASSIGN_OR_RETURN(auto writer, Writer());
    COFFRE_ASSIGN_OR_RETURN(Bytes sealed, writer->Seal(AsBytes(kDigestRow), EncodeDigests(digests)));
    Status put = kv_.PutIfAbsent(kDigestRow, sealed, /*sync=*/true);
    if (!put.ok() && put.code() != StatusCode::kAlreadyExists) return put;
    if (!put.ok()) rows = 0;
  }
  std::lock_guard<std::mutex> guard(mu_);
  if (rows > 0) {
    LogLine("integrity", "metadata digests made from the " + std::to_string(rows) +
                             " rows as they are (none was stored: a hub from before them, or "
                             "the digest rows were removed)");
    reanchored_ = true;
  }
  anchored_ = true;
  return Status::Ok();
}

Status RowDigests::Write(std::vector<storage::KvWrite> batch, bool sync) {
  std::vector<std::string> rows;
  for (const storage::KvWrite& w : batch) rows.push_back(w.key);
  return Update(rows, [&](storage::KvTxn&) -> Result<std::vector<storage::KvWrite>> {
    return batch;
  }, sync);
}

Status RowDigests::Update(const std::vector<std::string>& lock_rows, const BuildBatch& build,
                          bool sync) {
  for (const std::string& row : lock_rows) {
    if (std::find(Tables().begin(), Tables().end(), TableOf(row)) == Tables().end()) {
      return InvalidArgument("row " + row + " is not in a digested table");
    }
  }
  COFFRE_RETURN_IF_ERROR(AnchorOnce());
  bool wrote = false;
  COFFRE_RETURN_IF_ERROR(UpdateWithShard(lock_rows, build, wrote));
  // After the transaction: writers that wrote meanwhile share this fsync (or synchronous commit).
  return sync && wrote ? kv_.Sync() : Status::Ok();
}

Status RowDigests::UpdateWithShard(const std::vector<std::string>& lock_rows,
                                   const BuildBatch& build, bool& wrote) {
  const std::string shard_row = shard_row_.empty() ? std::string(kDigestRow) : shard_row_;
  std::vector<std::string> locks = lock_rows;
  locks.push_back(shard_row);
  // One write of this node at a time, its shard locked from the first read to the commit. The
  // lock is taken before the store's connection: in cluster mode a transaction holds one of a
  // bounded pool's, and opening a row may need another (a data key not yet loaded).
  std::lock_guard<std::mutex> one_at_a_time(write_mu_);
  COFFRE_ASSIGN_OR_RETURN(auto writer, Writer());  // started outside: it writes to the store
  return kv_.Transact(locks, [&](storage::KvTxn& txn) -> Status {
    COFFRE_ASSIGN_OR_RETURN(std::vector<storage::KvWrite> batch, build(txn));
    for (const storage::KvWrite& w : batch) {
      if (!Locked(lock_rows, w.key)) return Internal("row " + w.key + " written without its lock");
    }
    // A transaction that only read (a C2D receive from an empty queue) leaves the shard alone.
    wrote = !batch.empty();
    if (!wrote) return Status::Ok();
    Digests shard;
    Result<Bytes> stored = txn.Get(shard_row);
    if (stored.has_value()) {
      COFFRE_ASSIGN_OR_RETURN(shard, OpenShard(shard_row, *stored));
    } else if (stored.error().code() != StatusCode::kNotFound) {
      return stored.error();
    }
    AddMissingTables(shard);
    for (const storage::KvWrite& w : batch) {
      TableDigest& d = shard[std::string(TableOf(w.key))];
      Result<Bytes> old = txn.Get(w.key);  // an earlier write of this batch included
      if (old.has_value()) {
        COFFRE_ASSIGN_OR_RETURN(Bytes mac, Mac(w.key, *old));
        XorInto(d.digest, mac);
        --d.rows;  // a shard's count is a difference: it may wrap below zero
      } else if (old.error().code() != StatusCode::kNotFound) {
        return old.error();
      }
      if (!w.erase) {
        COFFRE_ASSIGN_OR_RETURN(Bytes mac, Mac(w.key, w.value));
        XorInto(d.digest, mac);
        ++d.rows;
        txn.Put(w.key, w.value);
      } else {
        txn.Delete(w.key);
      }
    }
    COFFRE_ASSIGN_OR_RETURN(Bytes sealed, writer->Seal(AsBytes(shard_row), EncodeDigests(shard)));
    txn.Put(shard_row, sealed);
    return Status::Ok();
  }, /*sync=*/false);
}

Result<std::vector<MetadataBreak>> RowDigests::Check() {
  {
    std::lock_guard<std::mutex> guard(mu_);
    if (checked_) return breaks_;
  }
  return Recheck();
}

Result<std::vector<MetadataBreak>> RowDigests::Recheck() {
  COFFRE_RETURN_IF_ERROR(AnchorOnce());  // UNAVAILABLE while the keys are locked
  std::vector<MetadataBreak> found;
  Result<std::unique_ptr<storage::KvStore>> snapshot = kv_.Snapshot();
  if (!snapshot.has_value() && snapshot.error().code() != StatusCode::kUnimplemented) {
    return snapshot.error();
  }
  // Rows and digests as of one moment: other writers (other nodes too) go on meanwhile.
  storage::KvStore& kv = snapshot.has_value() ? **snapshot : kv_;
  Digests expected;
  AddMissingTables(expected);
  Status failed;
  COFFRE_RETURN_IF_ERROR(kv.Scan(kDigestRow, [&](std::string_view row, ByteSpan sealed) {
    Result<Digests> shard = OpenShard(row, sealed);
    if (!shard.has_value()) {
      if (shard.error().code() == StatusCode::kUnavailable) {
        failed = shard.error();  // locked meanwhile
        return false;
      }
      found.push_back({std::string(row), "the digest row does not open: " + shard.error().message()});
      return true;
    }
    for (const auto& [table, d] : *shard) {
      TableDigest& sum = expected[table];
      XorInto(sum.digest, d.digest);
      sum.rows += d.rows;
    }
    return true;
  }));
  COFFRE_RETURN_IF_ERROR(failed);
  if (found.empty()) {
    COFFRE_ASSIGN_OR_RETURN(auto actual, Compute(kv));
    for (const auto& [table, d] : actual) {
      const TableDigest& want = expected[table];
      if (d.digest == want.digest && d.rows == want.rows) continue;
      std::string what = "rows put back from an older copy, replaced, removed or added outside "
                         "the hub (" + std::to_string(d.rows) + " rows; the digest counts " +
                         std::to_string(want.rows) + ")";
      found.push_back({table, what});
    }
  }
  for (const MetadataBreak& b : found) {
    LogLine(LogLevel::kError, "integrity", "INTEGRITY BREAK metadata table " + b.table + ": " + b.what);
  }
  std::lock_guard<std::mutex> guard(mu_);
  breaks_ = found;
  checked_ = true;
  return found;
}

bool RowDigests::reanchored() const {
  std::lock_guard<std::mutex> guard(mu_);
  return reanchored_;
}

}  // namespace coffre::hub
