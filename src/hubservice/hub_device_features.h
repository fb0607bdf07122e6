#pragma once
// HubDeviceFeatures: the device front ends' (MQTT, AMQP) twins, direct methods and cloud-to-device messages, over
// the hub's Twins, MethodCalls and C2dQueues. Twin requests and C2D queue changes read and write
// the store (a reported patch is durable before its answer), so they run in order on a work
// queue, off the io threads; method answers go straight to MethodCalls. Thread-safe.

#include "common/work_queue.h"
#include "hub/c2d_queues.h"
#include "hub/method_calls.h"
#include "hub/registry.h"
#include "hub/twins.h"
#include "hub/device_features.h"

namespace coffre::hubservice {

class HubDeviceFeatures : public hub::DeviceFeatures {
 public:
  // All must outlive this object.
  HubDeviceFeatures(hub::Registry& registry, hub::Twins& twins, hub::MethodCalls& methods,
                    hub::C2dQueues& c2d)
      : registry_(registry), twins_(twins), methods_(methods), c2d_(c2d) {}

  void TwinRequest(const hub::TwinId& id, hub::TwinRequestKind kind, std::string body,
                   TwinReply reply) override;
  void MethodResponse(const hub::TwinId& id, const std::string& rid, int status,
                      std::string payload) override;
  void MethodsSubscribed(const hub::TwinId& id) override;
  void NextC2d(const std::string& device_id, C2dNext done) override;
  void CompleteC2d(const std::string& device_id, const std::string& lock_token) override;
  void AbandonC2d(const std::string& device_id, const std::string& lock_token) override;
  void RejectC2d(const std::string& device_id, const std::string& lock_token) override;

  // Drops the queued work unrun after the running task (their callbacks are not called).
  void Stop() { work_.Stop(); }

 private:
  hub::Registry& registry_;
  hub::Twins& twins_;
  hub::MethodCalls& methods_;
  hub::C2dQueues& c2d_;
  WorkQueue work_{"mqtt-features", 4096};
};

}  // namespace coffre::hubservice
