#include "hub/row_digests.h"

#include "common/log.h"
#include "hub/hub_keys.h"

namespace coffre::hub {
namespace {

constexpr std::string_view kDigestRow = "row-digests";

std::string_view TableOf(std::string_view row) { return row.substr(0, row.find('/')); }

void XorInto(Bytes& digest, ByteSpan mac) {
  for (size_t i = 0; i < digest.size() && i < mac.size(); ++i) digest[i] ^= mac[i];
}

}  // namespace

const std::vector<std::string_view>& RowDigests::Tables() {
  // Every table SealedRows writes (a row of another is refused: add its table here).
  static const std::vector<std::string_view> tables = {
      "dev", "mod", "twin", "c2d", "c2dfeedback", "policy", "cg", "ckpt", "device-key",
      "device-erasure"};
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

Result<RowDigests::Digests> RowDigests::Compute() {
  Digests out;
  for (std::string_view table : Tables()) {
    TableDigest& d = out[std::string(table)];
    Status failed;
    COFFRE_RETURN_IF_ERROR(kv_.Scan(std::string(table) + "/", [&](std::string_view key, ByteSpan value) {
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

Result<storage::KvWrite> RowDigests::DigestRowLocked(const Digests& digests) {
  if (!writer_ || writer_->exhausted()) {
    COFFRE_ASSIGN_OR_RETURN(writer_, keys_.StartWriter(kRegistryScope));
  }
  COFFRE_ASSIGN_OR_RETURN(Bytes sealed, writer_->Seal(AsBytes(kDigestRow), EncodeDigests(digests)));
  return storage::KvWrite{std::string(kDigestRow), std::move(sealed), false};
}

Status RowDigests::LoadLocked() {
  if (loaded_) return Status::Ok();
  Result<Bytes> stored = kv_.Get(kDigestRow);
  if (!stored.has_value()) {
    if (stored.error().code() != StatusCode::kNotFound) return stored.error();
    // A hub made before the digests, or the row deleted: take the rows as they are.
    COFFRE_ASSIGN_OR_RETURN(digests_, Compute());
    COFFRE_ASSIGN_OR_RETURN(storage::KvWrite row, DigestRowLocked(digests_));
    COFFRE_RETURN_IF_ERROR(kv_.Put(row.key, row.value, /*sync=*/true));
    uint64_t rows = 0;
    for (const auto& [name, d] : digests_) rows += d.rows;
    if (rows > 0) {
      LogLine("integrity", "metadata digests made from the " + std::to_string(rows) +
                               " rows as they are (none was stored: a hub from before them, or "
                               "the digest row was removed)");
      reanchored_ = true;
    }
    loaded_ = true;
    return Status::Ok();
  }
  COFFRE_ASSIGN_OR_RETURN(Bytes plain, keys_.Open(*stored, AsBytes(kDigestRow)));
  COFFRE_ASSIGN_OR_RETURN(Digests loaded, DecodeDigests(plain));
  for (std::string_view table : Tables()) loaded[std::string(table)];  // a new table: empty
  digests_ = std::move(loaded);
  loaded_ = true;
  return Status::Ok();
}

Status RowDigests::Write(std::vector<storage::KvWrite> batch, bool sync) {
  {
    std::lock_guard<std::mutex> guard(mu_);
    COFFRE_RETURN_IF_ERROR(LoadLocked());
    auto next = digests_;
    std::map<std::string, std::optional<Bytes>, std::less<>> pending;  // earlier in this batch
    for (const storage::KvWrite& w : batch) {
      auto d = next.find(TableOf(w.key));
      if (d == next.end()) {
        return InvalidArgument("row " + w.key + " is not in a digested table");
      }
      std::optional<Bytes> old;
      if (auto p = pending.find(w.key); p != pending.end()) {
        old = p->second;
      } else {
        Result<Bytes> stored = kv_.Get(w.key);
        if (stored.has_value()) {
          old = std::move(*stored);
        } else if (stored.error().code() != StatusCode::kNotFound) {
          return stored.error();
        }
      }
      if (old) {
        COFFRE_ASSIGN_OR_RETURN(Bytes mac, Mac(w.key, *old));
        XorInto(d->second.digest, mac);
        --d->second.rows;
      }
      if (!w.erase) {
        COFFRE_ASSIGN_OR_RETURN(Bytes mac, Mac(w.key, w.value));
        XorInto(d->second.digest, mac);
        ++d->second.rows;
      }
      pending[w.key] = w.erase ? std::nullopt : std::optional<Bytes>(w.value);
    }
    COFFRE_ASSIGN_OR_RETURN(storage::KvWrite row, DigestRowLocked(next));
    batch.push_back(std::move(row));
    COFFRE_RETURN_IF_ERROR(kv_.Write(batch, /*sync=*/false));
    digests_ = std::move(next);  // only once written: a failed write changes nothing
  }
  // After the lock: writers that wrote meanwhile share this fsync.
  return sync ? kv_.Sync() : Status::Ok();
}

Result<std::vector<MetadataBreak>> RowDigests::Check() {
  {
    std::lock_guard<std::mutex> guard(mu_);
    if (checked_) return breaks_;
  }
  return Recheck();
}

Result<std::vector<MetadataBreak>> RowDigests::Recheck() {
  std::lock_guard<std::mutex> guard(mu_);
  Status loaded = LoadLocked();
  std::vector<MetadataBreak> found;
  if (!loaded.ok()) {
    if (loaded.code() == StatusCode::kUnavailable) return loaded;  // locked
    found.push_back({std::string(kDigestRow), "the digest row does not open: " + loaded.message()});
  } else {
    COFFRE_ASSIGN_OR_RETURN(auto actual, Compute());
    for (const auto& [table, d] : actual) {
      const TableDigest& expected = digests_[table];
      if (d.digest == expected.digest && d.rows == expected.rows) continue;
      std::string what = "rows put back from an older copy, replaced, removed or added outside "
                         "the hub (" + std::to_string(d.rows) + " rows; the digest counts " +
                         std::to_string(expected.rows) + ")";
      found.push_back({table, what});
      LogLine(LogLevel::kError, "integrity", "INTEGRITY BREAK metadata table " + table + ": " + what);
    }
  }
  breaks_ = found;
  checked_ = true;
  return found;
}

bool RowDigests::reanchored() const {
  std::lock_guard<std::mutex> guard(mu_);
  return reanchored_;
}

}  // namespace coffre::hub
