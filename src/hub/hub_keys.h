#pragma once
// HubKeys: the customer layer's keys of one hub. At start the hub root key is unwrapped through
// the customer's key (KeyProvider); a new hub generates one and stores only its wrapped copy
// (key "keys/root" in the metadata store). Data keys live wrapped in the same store, one per
// (scope, writer epoch); keys for other purposes (row names) are derived from the root. No vault
// call is made except in Open, Unlock and Rewrap.
//
// Lock() is what the hub does when the customer's key becomes inaccessible: it zeroizes the
// root key, every cached data key and derived key, and the data key of every writer it started;
// from then on every call that needs a key fails with UNAVAILABLE until Unlock() unwraps the
// root key again. Rewrap() follows a rotation of the customer's key.
// Unlock() and Rewrap() make their vault round trips and their synced write outside the lock
// that key users share, and take it exclusively only to swap the result in: a device CONNECT or
// a telemetry write never waits for the vault, and neither does Lock(). (A Rewrap in flight when
// Lock() runs holds its reference to the root key until its vault call returns, then drops it.)
// Thread-safe.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "crypto/device_key.h"
#include "crypto/envelope_reader.h"
#include "crypto/envelope_writer.h"
#include "crypto/key_provider.h"
#include "crypto/root_key.h"
#include "hub/row_digests.h"
#include "storage/kv_data_key_store.h"
#include "storage/kv_store.h"

namespace coffre::hub {

// Scopes of data keys (envelope key ids). Telemetry partitions use their partition number.
inline constexpr uint32_t kRegistryScope = 1000;
// The metadata store's row of the wrapped root key (the customer's key wraps it).
inline constexpr const char* kRootKeyRow = "keys/root";

class HubKeys {
 public:
  // kv must outlive the keys. The provider is used only inside Open.
  static Result<std::unique_ptr<HubKeys>> Open(storage::KvStore& kv,
                                               crypto::KeyProvider& provider);
  // An existing hub's keys, locked, without asking the vault (which is unreachable, or refuses):
  // Unlock() once it answers. NOT_FOUND on a new hub (it has no wrapped root key yet).
  static Result<std::unique_ptr<HubKeys>> OpenLocked(storage::KvStore& kv);

  // A writer incarnation for `scope`: a fresh data key, its epoch reserved durably, sealing at
  // most `max_seals` records.
  Result<std::shared_ptr<crypto::EnvelopeWriter>> StartWriter(
      uint32_t scope, uint64_t max_seals = crypto::kMaxSealsPerDataKey);
  // Opens an envelope of any scope (OpenFailed() for every failure to open).
  Result<Bytes> Open(ByteSpan envelope, ByteSpan aad);
  // HMAC-SHA256 of `data` under the key derived from the root for `label` (row names).
  Result<Bytes> Hmac(std::string_view label, std::string_view data);
  // The key derived from the root for `label`, not kept here (a backup's, one per backup).
  Result<crypto::SecretBytes> DeriveKey(std::string_view label);

  // Device keys (crypto/device_key.h; which device has which key: DeviceKeys). The keys in use
  // are remembered here, so that Lock() and DestroyDeviceKey() reach every copy.
  // The remembered key of `device_id`, or null.
  Result<std::shared_ptr<const crypto::DeviceKey>> RememberedDeviceKey(std::string_view device_id);
  // A new key `number`, its wrapped copy stored durably, no device's yet (UseDeviceKey).
  // ALREADY_EXISTS if the number is taken.
  Result<std::shared_ptr<crypto::DeviceKey>> NewDeviceKey(uint64_t number);
  // A key from NewDeviceKey, remembered as `device_id`'s.
  std::shared_ptr<const crypto::DeviceKey> UseDeviceKey(std::string_view device_id,
                                                        std::shared_ptr<crypto::DeviceKey> key);
  // The stored key `number` of `device_id`. NOT_FOUND if it is not stored (destroyed).
  Result<std::shared_ptr<const crypto::DeviceKey>> LoadDeviceKey(std::string_view device_id,
                                                                 uint64_t number);
  // Deletes key `number`'s wrapped copy durably, and forgets every copy in memory: the
  // remembered one, and the subkeys of the reader and of every writer. Works while locked too
  // (the wrapped copy needs no key to be deleted).
  Status DestroyDeviceKey(uint64_t number);
  // DestroyDeviceKey's second half alone: every copy of key `number` in this process
  // forgotten (another hub node destroyed the key in the store).
  void ForgetDeviceKey(uint64_t number);
  Result<bool> DeviceKeyStored(uint64_t number);
  size_t remembered_device_keys() const;
  size_t cached_read_keys() const;  // data keys and device subkeys the reader holds

  // The digests of the sealed metadata rows (hub/row_digests.h): every SealedRows of this hub
  // writes through them, so they live beside the keys those rows are sealed under.
  RowDigests& row_digests() { return *row_digests_; }

  // Records sealed by this hub's writers, and envelopes opened (or refused: damaged, forged, a
  // destroyed device key) since the process started; for the hub's metrics. Opens refused
  // because the keys are locked are not counted.
  uint64_t seals() const { return seals_->load(std::memory_order_relaxed); }
  uint64_t opens() const { return opens_.load(std::memory_order_relaxed); }
  uint64_t failed_opens() const { return failed_opens_.load(std::memory_order_relaxed); }

  void Lock();
  // Unwraps the root key through `provider`; OK at once if not locked. The copy in the store
  // first (another hub node on the store may have rewrapped it since: a new key version, or
  // another key), taken only if it wraps the same root key as before; else the copy this
  // node read last.
  Status Unlock(crypto::KeyProvider& provider);
  bool locked() const;
  // Wraps the root key with `provider`'s current key version and replaces the stored copy in
  // one synced write (at every moment the old or the new copy is durable). Not while locked.
  // The stored copy's row is locked from its read to the write (KvStore::Transact), so hub
  // nodes sharing a store follow a rotation one at a time: one that finds a copy stored since
  // its own, opening with `provider` to this same root key, takes it instead of writing.
  // (A rollback of the row to an older copy is taken too, and the next rotation check, seeing
  // an old version, rewraps again.)
  Status Rewrap(crypto::KeyProvider& provider);
  crypto::WrappedKey wrapped_root() const;

 private:
  HubKeys(storage::KvStore& kv, std::unique_ptr<crypto::RootKey> root, crypto::WrappedKey wrapped);
  static Result<crypto::WrappedKey> StoredRoot(storage::KvStore& kv);
  // A MAC under a key derived from the root: tells which root a copy wraps, without the root.
  static Bytes Fingerprint(const crypto::RootKey& root);
  Status CheckUnlocked() const;  // requires mu_ (shared)
  // Keeps `key` as device_id's (device_mu_ taken here); returns it.
  std::shared_ptr<const crypto::DeviceKey> Remember(std::string_view device_id,
                                                    std::shared_ptr<crypto::DeviceKey> key);

  storage::KvStore& kv_;
  std::unique_ptr<storage::KvDataKeyStore> data_keys_;
  std::unique_ptr<RowDigests> row_digests_;
  std::mutex change_mu_;  // one Unlock or Rewrap at a time; taken before mu_, never inside it
  // shared: using keys; exclusive: Lock, and the swaps at the end of Unlock and Rewrap (never
  // held across a vault call or an fsync)
  mutable std::shared_mutex mu_;
  std::shared_ptr<crypto::RootKey> root_;            // null while locked
  std::unique_ptr<crypto::EnvelopeReader> reader_;   // null while locked
  crypto::WrappedKey wrapped_;
  Bytes root_fingerprint_;  // empty until the root was first unwrapped; kept while locked
  std::mutex derived_mu_;  // under mu_ (shared) too
  std::map<std::string, crypto::SecretBytes, std::less<>> derived_;  // by label
  std::mutex writers_mu_;  // under mu_ (shared) too
  std::vector<std::weak_ptr<crypto::EnvelopeWriter>> writers_;       // to forget on Lock
  mutable std::mutex device_mu_;  // under mu_ (shared) too
  // Device keys in use, by device id, at most kMaxRememberedDeviceKeys; guarded by device_mu_.
  std::unordered_map<std::string, std::shared_ptr<const crypto::DeviceKey>> device_keys_;
  // Shared with every writer (which may outlive a failed start's keys).
  std::shared_ptr<std::atomic<uint64_t>> seals_ = std::make_shared<std::atomic<uint64_t>>(0);
  std::atomic<uint64_t> opens_{0}, failed_opens_{0};
};

}  // namespace coffre::hub
