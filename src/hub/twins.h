#pragma once
// Twins: the twin operations of IoT Hub over the registry (which identities exist, their
// generation, status and connection state) and the twin store. The service reads whole twins,
// patches or replaces tags and desired properties; a device reads its desired and reported
// properties and patches the reported ones. A desired change is told to the DesiredListener
// (the MQTT front end notifies subscribed sessions) after it is stored. Thread-safe.

#include <functional>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/result.h"
#include "hub/c2d_queues.h"
#include "hub/registry.h"
#include "hub/twin_store.h"

namespace coffre::hub {

class Twins {
 public:
  // Called with the identity, the desired patch as applied and the new desired $version.
  using DesiredListener =
      std::function<void(const TwinId& id, const nlohmann::json& patch, int64_t version)>;

  // registry, store and clock must outlive the twins.
  Twins(Registry& registry, TwinStore& store, Clock& clock)
      : registry_(registry), store_(store), clock_(clock) {}

  void SetDesiredListener(DesiredListener listener);
  // A device twin's cloudToDeviceMessageCount is its queue's depth (0 without queues). Set
  // once, before use; queues must outlive the twins.
  void CountC2dIn(C2dQueues& queues) { c2d_ = &queues; }

  // The twin as GET /twins/{id} returns it (identity fields, tags, properties with $metadata).
  // NOT_FOUND (detail "DeviceNotFound" or "ModuleNotFound") for an unknown identity.
  Result<nlohmann::json> Get(const TwinId& id);
  // Whether the identity exists (enabled or not), with Get's NOT_FOUND if not; reads the
  // registry only.
  Status Exists(const TwinId& id);
  // The same, for an identity the caller has just read from the registry (a query walking its
  // listing), without reading the registry again. `module` null: the device's own twin.
  Result<nlohmann::json> View(const DeviceIdentity& device, const ModuleIdentity* module);
  // PATCH /twins/{id}: body {"tags":{...},"properties":{"desired":{...}}}, either optional,
  // merged. INVALID_ARGUMENT for anything else in the body (reported properties included).
  Result<nlohmann::json> Patch(const TwinId& id, const nlohmann::json& body, const std::string& if_match);
  // PUT /twins/{id}: tags and desired properties replaced.
  Result<nlohmann::json> Replace(const TwinId& id, const nlohmann::json& body,
                                 const std::string& if_match);

  // The device's view: {"desired":{...,"$version"},"reported":{...,"$version"}}.
  // UNAUTHENTICATED while the device is disabled (a request its session sent just before).
  Result<nlohmann::json> DeviceGet(const TwinId& id);
  // A device's reported patch; the new reported $version. UNAUTHENTICATED while disabled.
  Result<int64_t> Report(const TwinId& id, const nlohmann::json& patch);

 private:
  struct Identity {
    std::string generation_id;
    nlohmann::json fields;  // the identity part of the service view
  };
  Result<Identity> Lookup(const TwinId& id);
  // What the device's own operations need: its twin's generation id; UNAUTHENTICATED while the
  // device is disabled. No service view is built (nor its C2D count read).
  Result<std::string> EnabledGeneration(const TwinId& id);
  Result<Identity> IdentityOf(const DeviceIdentity& device, const ModuleIdentity* module);
  Result<nlohmann::json> Write(const TwinId& id, const nlohmann::json& body,
                               const std::string& if_match, bool replace);
  nlohmann::json ServiceView(const Identity& identity, const TwinDocument& twin) const;

  Registry& registry_;
  TwinStore& store_;
  Clock& clock_;
  C2dQueues* c2d_ = nullptr;
  std::mutex listener_mu_;
  DesiredListener listener_;  // guarded by listener_mu_
};

}  // namespace coffre::hub
