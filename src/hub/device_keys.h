#pragma once
// DeviceKeys: which device has which key (crypto/device_key.h), and erasure. Each device's
// telemetry is sealed under its own key, made on its first message; erasing the device destroys
// that key, so every record it ever sent becomes unreadable inside the shared partitions, without
// rewriting them, while the partitions' chains still verify (they cover the sealed bytes).
//
// Rows (SealedRows, so sealed with AAD = row key):
//   device-key/<HMAC of the device id>  {"number": N, "generation": G}   the device's current
//                                        key, and the identity generation it was made for
//   device-erasure/<N, 20 digits>       {"deviceId", "number", "erasedAt", "erasedBy"}
// An erasure is stored, synced, before the key is destroyed: readers tell an erased record (its
// key is gone and an erasure names it) from a damaged one (its key is gone and nothing says
// why), and a crash between the two is finished at the next start (FinishErasures).
// A message of the erased incarnation that arrives after its erasure (authenticated just
// before it) is erased on arrival: it is sealed under a throwaway key and the erased key's
// number, so it reads as erased. A device created again (a new generation) gets a new key.
// Thread-safe.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "crypto/device_key.h"
#include "hub/hub_keys.h"
#include "hub/sealed_rows.h"

namespace coffre::hub {

struct DeviceErasure {
  std::string device_id;
  uint64_t key_number = 0;  // 0: the device had no key (it never sent telemetry)
  int64_t erased_ms = 0;
  std::string erased_by;    // who asked: the policy or "local"
};

class DeviceKeys {
 public:
  // `destroy_deleted` makes what was deleted from the metadata store unrecoverable from its
  // files (RocksKvStore::DestroyDeletedData); null: nothing more is done.
  DeviceKeys(HubKeys& keys, SealedRows& rows, Clock& clock,
             std::function<Status()> destroy_deleted = nullptr);

  // The key `device_id`'s records are sealed under, made (durably) on first use. `generation`:
  // the identity generation the message was authenticated as (empty: unknown).
  Result<std::shared_ptr<const crypto::DeviceKey>> For(std::string_view device_id,
                                                       std::string_view generation = {});

  // Records the erasure, destroys the device's key and every copy of it, then scrubs the
  // metadata store's files. A device without a key is recorded too (key_number 0).
  // `erased_ms`: when it was asked (a restore carries an erasure over with its time); 0: now.
  Result<DeviceErasure> Erase(std::string_view device_id, std::string_view by,
                              int64_t erased_ms = 0);
  // The erasure that destroyed key `number`; NOT_FOUND if none did.
  Result<DeviceErasure> FindErasure(uint64_t number);
  Result<std::vector<DeviceErasure>> Erasures();
  // Destroys the keys of erasures recorded before a crash let them finish.
  Status FinishErasures();

  // Cluster mode: told the number of each key Erase destroyed (after it is), so that the other
  // hub nodes forget their copies; and ForgetErased, for a node that may have missed some,
  // forgets the key of every erasure recorded. Set before use.
  void SetErasedListener(std::function<void(uint64_t number)> listener) {
    erased_ = std::move(listener);
  }
  Status ForgetErased();

 private:
  Result<std::string> KeyRow(std::string_view device_id);

  HubKeys& keys_;
  SealedRows& rows_;
  Clock& clock_;
  std::function<Status()> destroy_deleted_;
  std::function<void(uint64_t number)> erased_;  // set before use
  std::mutex change_mu_;  // one key made or erased at a time
};

// "device-erasure/<number, 20 digits>".
std::string ErasureRow(uint64_t number);

}  // namespace coffre::hub
