#pragma once
// HubKeys: the customer layer's keys of one hub. At start the hub root key is unwrapped through
// the customer's key (KeyProvider); a new hub generates one and stores only its wrapped copy
// (key "keys/root" in the metadata store). Data keys live wrapped in the same store, one per
// (scope, writer epoch); keys for other purposes (the registry's row names) are derived from the
// root. No vault call is made after Open. Forget() drops every unwrapped key.
// Thread-safe.

#include <cstdint>
#include <memory>
#include <mutex>

#include "crypto/envelope_reader.h"
#include "crypto/envelope_writer.h"
#include "crypto/key_provider.h"
#include "crypto/root_key.h"
#include "storage/kv_data_key_store.h"
#include "storage/kv_store.h"

namespace coffre::hub {

// Scopes of data keys (envelope key ids). Telemetry partitions use their partition number.
inline constexpr uint32_t kRegistryScope = 1000;

class HubKeys {
 public:
  // kv must outlive the keys. The provider is used only inside Open.
  static Result<std::unique_ptr<HubKeys>> Open(storage::KvStore& kv,
                                               crypto::KeyProvider& provider);

  // A writer incarnation for `scope`: a fresh data key, its epoch reserved durably.
  Result<std::unique_ptr<crypto::EnvelopeWriter>> StartWriter(uint32_t scope);
  crypto::EnvelopeReader& reader() { return *reader_; }
  crypto::RootKey& root() { return *root_; }
  const crypto::WrappedKey& wrapped_root() const { return wrapped_; }

 private:
  HubKeys(storage::KvStore& kv, std::unique_ptr<crypto::RootKey> root, crypto::WrappedKey wrapped);

  std::unique_ptr<storage::KvDataKeyStore> data_keys_;
  std::unique_ptr<crypto::RootKey> root_;
  std::unique_ptr<crypto::EnvelopeReader> reader_;
  crypto::WrappedKey wrapped_;
};

}  // namespace coffre::hub
