#include "hub/telemetry_heads.h"

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
  const std::string name = "the sealed head of telemetry partition " + std::to_string(partition);
  Result<Bytes> plain = keys_.Open(*sealed, AsBytes(Aad(partition)));
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
  return std::optional<TelemetryHead>(std::move(head));
}

Status TelemetryHeads::Store(int partition, const TelemetryHead& head, bool sync) {
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
  {
    std::lock_guard<std::mutex> guard(mu_);
    if (!writer_ || writer_->exhausted()) {
      COFFRE_ASSIGN_OR_RETURN(writer_, keys_.StartWriter(kRegistryScope));
    }
    COFFRE_RETURN_IF_ERROR(writer_->Seal(AsBytes(Aad(partition)), plain, sealed));
  }
  return kv_.Put(Row(partition), sealed, sync);
}

}  // namespace coffre::hub
