#include "hub/erase_device.h"

namespace coffre::hub {

Result<ErasedDevice> EraseDevice(Registry& registry, TwinStore& twins, C2dQueues& c2d,
                                 DeviceKeys& device_keys, std::string_view device_id,
                                 std::string_view by, int64_t erased_ms) {
  ErasedDevice out;
  Status deleted = registry.Delete(std::string(device_id), "*");
  if (!deleted.ok() && deleted.code() != StatusCode::kNotFound) return deleted;
  out.identity_deleted = deleted.ok();
  Status twin = twins.Erase({std::string(device_id), std::nullopt});
  if (!twin.ok() && twin.code() != StatusCode::kNotFound) return twin;
  COFFRE_ASSIGN_OR_RETURN(out.c2d_purged, c2d.Purge(std::string(device_id)));
  COFFRE_ASSIGN_OR_RETURN(out.erasure, device_keys.Erase(device_id, by, erased_ms));
  return out;
}

}  // namespace coffre::hub
