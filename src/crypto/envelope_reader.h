#pragma once
// EnvelopeReader: opens envelopes of any scope and epoch. It finds the data key named by the
// header in the DataKeyStore, unwraps it with the root key once, and caches it in the secure
// heap until Forget(). A device-scoped envelope (crypto/device_key.h) needs the device's key too:
// if it is no longer stored (erased), Open returns NOT_FOUND, which the caller tells apart from
// tampering. Every other failure to open (unknown data key, wrong AAD, tampering) is
// OpenFailed(); a store that cannot be read returns its own error.
// Thread-safe.

#include <map>
#include <memory>
#include <mutex>

#include "common/result.h"
#include "crypto/aes_gcm.h"
#include "crypto/data_key_store.h"
#include "crypto/root_key.h"

namespace coffre::crypto {

class EnvelopeReader {
 public:
  // root and store must outlive this object.
  EnvelopeReader(RootKey& root, DataKeyStore& store) : root_(root), store_(store) {}

  // out.size() must be envelope.size() - kEnvelopeOverhead.
  Status Open(ByteSpan envelope, ByteSpan aad, MutableByteSpan out);
  Result<Bytes> Open(ByteSpan envelope, ByteSpan aad);

  // Drops (and so zeroizes) every cached data key.
  void Forget();
  // Drops every subkey of device key `number` (the device's data was erased).
  void ForgetDevice(uint64_t number);
  size_t cached_keys() const;  // data keys and device subkeys

 private:
  Result<AesGcm*> KeyFor(DataKeyId id);                           // requires mu_
  Result<AesGcm*> DeviceKeyFor(uint64_t number, DataKeyId writer);  // requires mu_

  RootKey& root_;
  DataKeyStore& store_;
  mutable std::mutex mu_;
  std::map<DataKeyId, std::unique_ptr<AesGcm>> keys_;  // guarded by mu_
  // Device subkeys by (device key number, writer); guarded by mu_.
  std::map<std::pair<uint64_t, DataKeyId>, std::unique_ptr<AesGcm>> device_keys_;
};

}  // namespace coffre::crypto
