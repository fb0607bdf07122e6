#pragma once
// EraseDevice: what erasing a device does, in order, wherever it is asked (POST
// /$coffre/erasures, and a restore carrying over an erasure made after its backup). The identity
// goes first: once it is gone no new session opens, and no new message arrives under the key
// about to be destroyed. Then its twins (modules' too) and its C2D backlog, and last its key with
// the erasure's record (DeviceKeys::Erase). Each step is idempotent: an erasure cut short is
// asked again.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/result.h"
#include "hub/c2d_queues.h"
#include "hub/device_keys.h"
#include "hub/registry.h"
#include "hub/twin_store.h"

namespace coffre::hub {

struct ErasedDevice {
  DeviceErasure erasure;
  bool identity_deleted = false;  // false: there was none
  size_t c2d_purged = 0;
};

// `erased_ms`: as DeviceKeys::Erase.
Result<ErasedDevice> EraseDevice(Registry& registry, TwinStore& twins, C2dQueues& c2d,
                                 DeviceKeys& device_keys, std::string_view device_id,
                                 std::string_view by, int64_t erased_ms = 0);

}  // namespace coffre::hub
