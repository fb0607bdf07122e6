#pragma once
// EnvelopeWriter: seals the records of one scope (a table or partition) for one writer
// incarnation. Nonce discipline (docs/FORMAT.md, "Nonces"):
//   1. Start() reserves a new epoch of the scope in the DataKeyStore, durably, first;
//   2. it draws a fresh random data key and stores it wrapped under the root key, durably, under
//      (scope, epoch), refusing to replace one already there (then it reserves again);
//   3. only then does it seal, with nonces 0, 1, 2, ... (a 96-bit big-endian counter) held in
//      memory alone.
// A crash, a restart from an old state or a second writer therefore never reuses a (key, nonce)
// pair: every incarnation has its own fresh key, and its counter starts over under that key only.
// A data key seals at most `max_seals` records (default 2^32); then Seal() refuses with
// RESOURCE_EXHAUSTED and the owner starts a new incarnation (rotation by volume).
// Forget() zeroizes the data key (the hub's keys became inaccessible): Seal then refuses with
// UNAVAILABLE and exhausted() is true, so the owner starts a new writer once keys return.
// SealForDevice seals a record of one device under that device's subkey of this writer
// (crypto/device_key.h), with the same nonce counter, so nonces stay unique under every key.
// Seal from one thread at a time; Forget and ForgetDevice from any.

#include <atomic>
#include <map>
#include <memory>
#include <mutex>

#include "common/result.h"
#include "crypto/aes_gcm.h"
#include "crypto/data_key_store.h"
#include "crypto/device_key.h"
#include "crypto/envelope.h"
#include "crypto/root_key.h"

namespace coffre::crypto {

inline constexpr uint64_t kMaxSealsPerDataKey = uint64_t{1} << 32;

class EnvelopeWriter {
 public:
  // root and store are only used inside Start().
  static Result<std::unique_ptr<EnvelopeWriter>> Start(uint32_t scope, RootKey& root,
                                                       DataKeyStore& store,
                                                       uint64_t max_seals = kMaxSealsPerDataKey);

  // out.size() must be SealedEnvelopeSize(plaintext.size()).
  Status Seal(ByteSpan aad, ByteSpan plaintext, MutableByteSpan out);
  Result<Bytes> Seal(ByteSpan aad, ByteSpan plaintext);
  // out.size() must be SealedEnvelopeSize(plaintext.size()) + kDeviceKeyFieldSize.
  Status SealForDevice(const DeviceKey& device, ByteSpan aad, ByteSpan plaintext,
                       MutableByteSpan out);

  void Forget();
  // Drops the subkey of device key `number` (the device's data was erased).
  void ForgetDevice(uint64_t number);
  size_t device_subkeys() const;

  // Every seal from now on also adds one to `*total` (the hub's count of seals, for its
  // metrics), which the writer keeps alive. Before the first seal.
  void CountSealsIn(std::shared_ptr<std::atomic<uint64_t>> total) { total_ = std::move(total); }

  DataKeyId key_id() const { return id_; }
  uint64_t seals() const { return next_counter_; }
  bool exhausted() const;

 private:
  EnvelopeWriter(DataKeyId id, std::unique_ptr<AesGcm> aead, uint64_t max_seals)
      : id_(id), aead_(std::move(aead)), max_seals_(max_seals) {}
  Status UsableLocked() const;  // requires mu_: not forgotten, nonce budget left
  // Requires mu_: `header` with this writer's key id, epoch and next counter nonce, sealed
  // under `aead`; the counter moves on.
  Status SealLocked(AesGcm& aead, EnvelopeHeader header, ByteSpan aad, ByteSpan plaintext,
                    MutableByteSpan out);

  DataKeyId id_;
  mutable std::mutex mu_;         // Forget against Seal
  std::unique_ptr<AesGcm> aead_;  // guarded by mu_; null once forgotten
  // Subkeys of the devices this writer sealed for, by device key number; guarded by mu_.
  std::map<uint64_t, std::unique_ptr<AesGcm>> device_aeads_;
  uint64_t max_seals_;
  uint64_t next_counter_ = 0;
  std::shared_ptr<std::atomic<uint64_t>> total_;  // null: not counted
};

}  // namespace coffre::crypto
