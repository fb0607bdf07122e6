#pragma once
// Erasing a device and all its data over HTTPS (`coffre hub device erase ID`,
// `coffre hub device delete ID --erase-data`):
//   POST /$coffre/erasures  {"deviceId": "..."}  service SAS with RegistryWrite
//   -> 200 {"deviceId", "keyNumber", "erasedAt", "erasedBy", "deviceDeleted", "c2dPurged"}
//   GET  /$coffre/erasures                        service SAS with RegistryRead
//   -> [{"deviceId", "keyNumber", "erasedAt", "erasedBy"}]
// An erasure deletes the identity (with its modules) if it still exists, its twins and its
// queued cloud-to-device messages, and destroys the device's telemetry key
// (hub/device_keys.h): its records stay in the partitions, unreadable, and readers are told
// they were erased. What a device sends afterwards (if the id is created again) is sealed under
// a new key. Erasing an id that never existed is recorded too (key 0). Synced writes: run
// Handle off the io threads. Thread-safe.

#include <optional>

#include "hub/access_policies.h"
#include "hub/c2d_queues.h"
#include "hub/device_keys.h"
#include "hub/registry.h"
#include "hub/twin_store.h"
#include "net/http_types.h"

namespace coffre::hubapi {

class EraseApi {
 public:
  // Everything must outlive the API.
  EraseApi(hub::Registry& registry, hub::TwinStore& twins, hub::C2dQueues& c2d,
           hub::DeviceKeys& device_keys, hub::AccessPolicies& policies)
      : registry_(registry), twins_(twins), c2d_(c2d), device_keys_(device_keys),
        policies_(policies) {}

  // Whether the request changes data (POST on the route): queue it with the registry writes.
  static bool Writes(const net::HttpRequest& request);
  // nullopt: not this API's path.
  std::optional<net::HttpResponse> Handle(const net::HttpRequest& request);

 private:
  net::HttpResponse Erase(const net::HttpRequest& request, const std::string& caller);

  hub::Registry& registry_;
  hub::TwinStore& twins_;
  hub::C2dQueues& c2d_;
  hub::DeviceKeys& device_keys_;
  hub::AccessPolicies& policies_;
};

}  // namespace coffre::hubapi
