#include "hub/telemetry_heads.h"

#include <algorithm>
#include <cstring>

#include "crypto/envelope.h"

namespace coffre::hub {
namespace {

// Format 1: first, end, link. Format 2 adds the breaks: count (1), then per break from (8),
// to (8), length of `what` (2), `what`.
constexpr std::byte kFormatWithoutBreaks{1};
constexpr std::byte kFormat{2};
constexpr size_t kFixedBytes = 1 + 8 + 8 + storage::kChainLinkBytes;
constexpr size_t kMaxWhatBytes = 300;

}  // namespace

std::string TelemetryHeads::Row(int partition) const {
  return "telemetry-head/" + std::to_string(partition);
}

std::string TelemetryHeads::Aad(int partition) const {
  return "telemetry-head/" + hub_name_ + "/" + std::to_string(partition);
}

Result<std::optional<TelemetryHead>> TelemetryHeads::Load(int partition) {
  Result<Bytes> sealed = kv_.Get(Row(partition));
  if (!sealed.has_value()) {
    if (sealed.error().code() == StatusCode::kNotFound) return std::optional<TelemetryHead>();
    return sealed.error();
  }
  COFFRE_ASSIGN_OR_RETURN(TelemetryHead head, Open(partition, *sealed));
  return std::optional<TelemetryHead>(std::move(head));
}

Result<TelemetryHead> TelemetryHeads::Open(int partition, ByteSpan sealed) {
  const std::string name = "the sealed head of telemetry partition " + std::to_string(partition);
  Result<Bytes> plain = keys_.Open(sealed, AsBytes(Aad(partition)));
  if (!plain.has_value()) {
    // Only a seal that does not open is damage; anything else (locked keys, a store that
    // could not read a data key) is tried again later.
    if (plain.error().code() != StatusCode::kDataLoss) return plain.error();
    return DataLoss(name + " could not be opened");
  }
  const Bytes& p = *plain;
  if (p.size() < kFixedBytes || (p[0] != kFormat && p[0] != kFormatWithoutBreaks) ||
      (p[0] == kFormat && p.size() < kFixedBytes + 1)) {
    return DataLoss(name + " is malformed");
  }
  TelemetryHead head;
  head.first = GetU64(p.data() + 1);
  head.end = GetU64(p.data() + 9);
  std::memcpy(head.link.data(), p.data() + 17, storage::kChainLinkBytes);
  if (p[0] == kFormat) {
    size_t at = kFixedBytes + 1;
    for (size_t n = static_cast<size_t>(p[kFixedBytes]); n > 0; --n) {
      if (at + 18 > p.size()) return DataLoss(name + " is malformed");
      IntegrityBreak b;
      b.from = GetU64(p.data() + at);
      b.to = GetU64(p.data() + at + 8);
      size_t length = (static_cast<size_t>(p[at + 16]) << 8) | static_cast<size_t>(p[at + 17]);
      at += 18;
      if (at + length > p.size()) return DataLoss(name + " is malformed");
      b.what.assign(reinterpret_cast<const char*>(p.data() + at), length);
      at += length;
      head.breaks.push_back(std::move(b));
    }
  }
  return head;
}

Result<std::shared_ptr<crypto::EnvelopeWriter>> TelemetryHeads::Writer() {
  {
    std::lock_guard<std::mutex> guard(mu_);
    if (writer_ && !writer_->exhausted()) return writer_;
  }
  // Started without mu_ held: starting one writes to the store, which may wait for a
  // connection that a Merge holding it waits to seal with.
  COFFRE_ASSIGN_OR_RETURN(auto started, keys_.StartWriter(kRegistryScope));
  std::lock_guard<std::mutex> guard(mu_);
  if (!writer_ || writer_->exhausted()) writer_ = std::move(started);
  return writer_;
}

Result<Bytes> TelemetryHeads::Seal(int partition, const TelemetryHead& head,
                                   crypto::EnvelopeWriter& writer) {
  Bytes plain(kFixedBytes + 1);
  plain[0] = kFormat;
  PutU64(plain.data() + 1, head.first);
  PutU64(plain.data() + 9, head.end);
  std::memcpy(plain.data() + 17, head.link.data(), storage::kChainLinkBytes);
  size_t count = std::min(head.breaks.size(), kMaxHeadBreaks);
  plain[kFixedBytes] = static_cast<std::byte>(count);
  for (size_t i = 0; i < count; ++i) {
    const IntegrityBreak& b = head.breaks[i];
    size_t length = std::min(b.what.size(), kMaxWhatBytes);
    size_t at = plain.size();
    plain.resize(at + 18 + length);
    PutU64(plain.data() + at, b.from);
    PutU64(plain.data() + at + 8, b.to);
    plain[at + 16] = static_cast<std::byte>(length >> 8);
    plain[at + 17] = static_cast<std::byte>(length & 0xff);
    std::memcpy(plain.data() + at + 18, b.what.data(), length);
  }
  Bytes sealed(crypto::SealedEnvelopeSize(plain.size()));
  std::lock_guard<std::mutex> guard(mu_);  // one Seal at a time per writer
  COFFRE_RETURN_IF_ERROR(writer.Seal(AsBytes(Aad(partition)), plain, sealed));
  return sealed;
}

Status TelemetryHeads::Store(int partition, const TelemetryHead& head, bool sync) {
  COFFRE_ASSIGN_OR_RETURN(auto writer, Writer());
  COFFRE_ASSIGN_OR_RETURN(Bytes sealed, Seal(partition, head, *writer));
  return kv_.Put(Row(partition), sealed, sync);
}

TelemetryHead MergeHeads(const TelemetryHead& stored, const TelemetryHead& head) {
  TelemetryHead merged = head.end >= stored.end ? head : stored;
  merged.first = std::max(stored.first, head.first);
  merged.breaks.clear();
  for (const TelemetryHead* h : {&stored, &head}) {
    for (const IntegrityBreak& b : h->breaks) {
      if (b.to > merged.first &&
          std::find(merged.breaks.begin(), merged.breaks.end(), b) == merged.breaks.end()) {
        merged.breaks.push_back(b);
      }
    }
  }
  std::sort(merged.breaks.begin(), merged.breaks.end(),
            [](const IntegrityBreak& a, const IntegrityBreak& b) { return a.from < b.from; });
  if (merged.breaks.size() > kMaxHeadBreaks) merged.breaks.resize(kMaxHeadBreaks);
  return merged;
}

Result<TelemetryHead> TelemetryHeads::Merge(int partition, const TelemetryHead& head, bool sync) {
  COFFRE_ASSIGN_OR_RETURN(auto writer, Writer());  // outside the transaction: it writes
  const std::string row = Row(partition);
  TelemetryHead merged;
  Status stored = kv_.Transact({row}, [&](storage::KvTxn& txn) -> Status {
    merged = head;
    Result<Bytes> old = txn.Get(row);
    if (old.has_value()) {
      // A head that does not open was reported by the check that read it: replaced by this one.
      Result<TelemetryHead> opened = Open(partition, *old);
      if (opened.has_value()) {
        merged = MergeHeads(*opened, head);
      } else if (opened.error().code() != StatusCode::kDataLoss) {
        return opened.error();
      }
    } else if (old.error().code() != StatusCode::kNotFound) {
      return old.error();
    }
    COFFRE_ASSIGN_OR_RETURN(Bytes sealed, Seal(partition, merged, *writer));
    txn.Put(row, sealed);
    return Status::Ok();
  }, sync);
  COFFRE_RETURN_IF_ERROR(stored);
  return merged;
}

}  // namespace coffre::hub
