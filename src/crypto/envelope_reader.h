#pragma once
// EnvelopeReader: opens envelopes of any scope and epoch. It finds the data key named by the
// header in the DataKeyStore, unwraps it with the root key once, and caches it in the secure
// heap until Forget(). Every failure to open (unknown key, wrong AAD, tampering) is OpenFailed();
// a store that cannot be read returns its own error.
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
  size_t cached_keys() const;

 private:
  Result<AesGcm*> KeyFor(DataKeyId id);  // requires mu_

  RootKey& root_;
  DataKeyStore& store_;
  mutable std::mutex mu_;
  std::map<DataKeyId, std::unique_ptr<AesGcm>> keys_;  // guarded by mu_
};

}  // namespace coffre::crypto
