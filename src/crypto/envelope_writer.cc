#include "crypto/envelope_writer.h"

#include "crypto/envelope.h"

namespace coffre::crypto {
namespace {

// A stored key under a reserved epoch means the epoch counter was rolled back (a restored
// backup, say); reserving again moves past it. Bounded so a broken store cannot spin us.
constexpr int kMaxReserveAttempts = 64;
constexpr size_t kMaxWriterDeviceSubkeys = 4096;

}  // namespace

Result<std::unique_ptr<EnvelopeWriter>> EnvelopeWriter::Start(uint32_t scope, RootKey& root,
                                                              DataKeyStore& store,
                                                              uint64_t max_seals) {
  if (scope == kRootKeyId) return InvalidArgument("scope id 0xFFFFFFFF is the root key's");
  for (int attempt = 0; attempt < kMaxReserveAttempts; ++attempt) {
    COFFRE_ASSIGN_OR_RETURN(uint64_t epoch, store.ReserveEpoch(scope));
    DataKeyId id{scope, epoch};
    COFFRE_ASSIGN_OR_RETURN(SecretBytes key, SecretBytes::Random(kAesGcmKeySize));
    COFFRE_ASSIGN_OR_RETURN(Bytes wrapped, root.WrapDataKey(id, key));
    Status put = store.PutWrapped(id, wrapped);
    if (put.code() == StatusCode::kAlreadyExists) continue;
    COFFRE_RETURN_IF_ERROR(put);
    COFFRE_ASSIGN_OR_RETURN(auto aead, AesGcm::Create(key));
    return std::unique_ptr<EnvelopeWriter>(new EnvelopeWriter(id, std::move(aead), max_seals));
  }
  return Internal("data key store keeps returning epochs that are already used");
}

void EnvelopeWriter::Forget() {
  std::lock_guard<std::mutex> guard(mu_);
  aead_.reset();  // AesGcm frees (and cleanses) its key schedule
  device_aeads_.clear();
}

void EnvelopeWriter::ForgetDevice(uint64_t number) {
  std::lock_guard<std::mutex> guard(mu_);
  device_aeads_.erase(number);
}

size_t EnvelopeWriter::device_subkeys() const {
  std::lock_guard<std::mutex> guard(mu_);
  return device_aeads_.size();
}

bool EnvelopeWriter::exhausted() const {
  std::lock_guard<std::mutex> guard(mu_);
  return !aead_ || next_counter_ >= max_seals_;
}

Status EnvelopeWriter::UsableLocked() const {
  if (!aead_) return Unavailable("the hub's keys are inaccessible");
  if (next_counter_ >= max_seals_) {
    return ResourceExhausted("the data key's nonce budget is used up; start a new writer");
  }
  return Status::Ok();
}

Status EnvelopeWriter::SealLocked(AesGcm& aead, EnvelopeHeader header, ByteSpan aad,
                                  ByteSpan plaintext, MutableByteSpan out) {
  header.key_id = id_.scope;
  header.epoch = id_.epoch;
  PutU64(header.nonce.data() + 4, next_counter_);  // bytes 0-3 stay zero
  COFFRE_RETURN_IF_ERROR(SealEnvelope(aead, header, aad, plaintext, out));
  ++next_counter_;
  if (total_) total_->fetch_add(1, std::memory_order_relaxed);
  return Status::Ok();
}

Status EnvelopeWriter::Seal(ByteSpan aad, ByteSpan plaintext, MutableByteSpan out) {
  std::lock_guard<std::mutex> guard(mu_);
  COFFRE_RETURN_IF_ERROR(UsableLocked());
  return SealLocked(*aead_, EnvelopeHeader{}, aad, plaintext, out);
}

Status EnvelopeWriter::SealForDevice(const DeviceKey& device, ByteSpan aad, ByteSpan plaintext,
                                     MutableByteSpan out) {
  std::lock_guard<std::mutex> guard(mu_);
  COFFRE_RETURN_IF_ERROR(UsableLocked());
  auto it = device_aeads_.find(device.number);
  if (it == device_aeads_.end()) {
    // Bounded: a writer that has seen very many devices starts its cache over (a subkey is
    // derived again in microseconds).
    if (device_aeads_.size() >= kMaxWriterDeviceSubkeys) device_aeads_.clear();
    COFFRE_ASSIGN_OR_RETURN(auto aead, DeviceRecordCipher(device.key, id_));
    it = device_aeads_.emplace(device.number, std::move(aead)).first;
  }
  EnvelopeHeader header;
  header.flags = kEnvelopeFlagDeviceScope;
  header.device_key = device.number;
  return SealLocked(*it->second, header, aad, plaintext, out);
}

Result<Bytes> EnvelopeWriter::Seal(ByteSpan aad, ByteSpan plaintext) {
  Bytes out(SealedEnvelopeSize(plaintext.size()));
  COFFRE_RETURN_IF_ERROR(Seal(aad, plaintext, out));
  return out;
}

}  // namespace coffre::crypto
