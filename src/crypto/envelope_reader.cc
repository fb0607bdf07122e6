#include "crypto/envelope_reader.h"

#include "crypto/device_key.h"
#include "crypto/envelope.h"

namespace coffre::crypto {
namespace {

constexpr size_t kMaxReaderDeviceSubkeys = 4096;  // then the cache starts over

}  // namespace

Result<AesGcm*> EnvelopeReader::KeyFor(DataKeyId id) {
  auto it = keys_.find(id);
  if (it != keys_.end()) return it->second.get();
  Result<Bytes> wrapped = store_.GetWrapped(id);
  if (!wrapped.has_value()) {
    if (wrapped.error().code() == StatusCode::kNotFound) return OpenFailed();
    return wrapped.error();
  }
  COFFRE_ASSIGN_OR_RETURN(SecretBytes key, root_.UnwrapDataKey(id, *wrapped));
  COFFRE_ASSIGN_OR_RETURN(auto aead, AesGcm::Create(key));
  AesGcm* raw = aead.get();
  keys_.emplace(id, std::move(aead));
  return raw;
}

Result<AesGcm*> EnvelopeReader::DeviceKeyFor(uint64_t number, DataKeyId writer) {
  auto it = device_keys_.find({number, writer});
  if (it != device_keys_.end()) return it->second.get();
  DataKeyId id{kDeviceKeyScope, number};
  Result<Bytes> wrapped = store_.GetWrapped(id);
  if (!wrapped.has_value()) {
    if (wrapped.error().code() == StatusCode::kNotFound) {
      return NotFound("device key " + std::to_string(number) + " is not stored");
    }
    return wrapped.error();
  }
  COFFRE_ASSIGN_OR_RETURN(SecretBytes key, root_.UnwrapDataKey(id, *wrapped));
  COFFRE_ASSIGN_OR_RETURN(auto aead, DeviceRecordCipher(key, writer));
  if (device_keys_.size() >= kMaxReaderDeviceSubkeys) device_keys_.clear();
  AesGcm* raw = aead.get();
  device_keys_.emplace(std::make_pair(number, writer), std::move(aead));
  return raw;
}

Status EnvelopeReader::Open(ByteSpan envelope, ByteSpan aad, MutableByteSpan out) {
  COFFRE_ASSIGN_OR_RETURN(EnvelopeHeader header, ReadEnvelopeHeader(envelope));
  if (header.key_id == kRootKeyId || header.key_id == kDeviceKeyScope) {
    return OpenFailed();  // wrapped keys are not records
  }
  std::lock_guard<std::mutex> guard(mu_);
  DataKeyId writer{header.key_id, header.epoch};
  AesGcm* aead = nullptr;
  if (header.device_scoped()) {
    COFFRE_ASSIGN_OR_RETURN(aead, DeviceKeyFor(header.device_key, writer));
  } else {
    COFFRE_ASSIGN_OR_RETURN(aead, KeyFor(writer));
  }
  return OpenEnvelope(*aead, envelope, aad, out);
}

Result<Bytes> EnvelopeReader::Open(ByteSpan envelope, ByteSpan aad) {
  if (envelope.size() < kEnvelopeOverhead) return OpenFailed();
  Bytes out(OpenedEnvelopeSize(envelope));
  COFFRE_RETURN_IF_ERROR(Open(envelope, aad, out));
  return out;
}

void EnvelopeReader::Forget() {
  std::lock_guard<std::mutex> guard(mu_);
  keys_.clear();
  device_keys_.clear();
}

void EnvelopeReader::ForgetDevice(uint64_t number) {
  std::lock_guard<std::mutex> guard(mu_);
  std::erase_if(device_keys_, [number](const auto& entry) { return entry.first.first == number; });
}

size_t EnvelopeReader::cached_keys() const {
  std::lock_guard<std::mutex> guard(mu_);
  return keys_.size() + device_keys_.size();
}

}  // namespace coffre::crypto
