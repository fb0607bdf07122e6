#include "hub/telemetry_heads.h"

#include <cstring>

#include "crypto/envelope.h"

namespace coffre::hub {
namespace {

constexpr std::byte kFormat{1};
constexpr size_t kHeadBytes = 1 + 8 + 8 + storage::kChainLinkBytes;

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
  Result<Bytes> plain = keys_.Open(*sealed, AsBytes(Aad(partition)));
  if (!plain.has_value()) {
    if (plain.error().code() == StatusCode::kUnavailable) return plain.error();
    return DataLoss("the sealed head of telemetry partition " + std::to_string(partition) +
                    " could not be opened");
  }
  if (plain->size() != kHeadBytes || (*plain)[0] != kFormat) {
    return DataLoss("the sealed head of telemetry partition " + std::to_string(partition) +
                    " is malformed");
  }
  TelemetryHead head;
  head.first = GetU64(plain->data() + 1);
  head.end = GetU64(plain->data() + 9);
  std::memcpy(head.link.data(), plain->data() + 17, storage::kChainLinkBytes);
  return std::optional<TelemetryHead>(head);
}

Status TelemetryHeads::Store(int partition, const TelemetryHead& head,
                             crypto::EnvelopeWriter& writer, bool sync) {
  std::byte plain[kHeadBytes];
  plain[0] = kFormat;
  PutU64(plain + 1, head.first);
  PutU64(plain + 9, head.end);
  std::memcpy(plain + 17, head.link.data(), storage::kChainLinkBytes);
  Bytes sealed(crypto::SealedEnvelopeSize(kHeadBytes));
  COFFRE_RETURN_IF_ERROR(writer.Seal(AsBytes(Aad(partition)), plain, sealed));
  return kv_.Put(Row(partition), sealed, sync);
}

}  // namespace coffre::hub
