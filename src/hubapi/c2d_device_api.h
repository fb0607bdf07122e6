#pragma once
// Cloud-to-device messages over HTTPS, as azure-iot-device-http polls for them: GET
// /devices/{id}/messages/devicebound locks and returns the next message (204 when none), with
// the lock token as ETag and the properties as iothub-* headers; DELETE .../{lockToken}
// completes it, DELETE .../{lockToken}?reject rejects it, POST .../{lockToken}/abandon puts it
// back. A lock that expired or was never given is 412 DeviceMessageLockLost. Authorized by the
// device's own credentials (or a DeviceConnect policy token covering it), as the device API.
// Every route writes to the store: the caller runs Handle off the io threads. Thread-safe.

#include <optional>

#include "hub/c2d_queues.h"
#include "hub/device_auth.h"
#include "hub/registry.h"
#include "hub/hub_metrics.h"
#include "net/http_types.h"

namespace coffre::hubapi {

class C2dDeviceApi {
 public:
  // auth, registry and queues must outlive the API.
  C2dDeviceApi(hub::DeviceAuthenticator& auth, hub::Registry& registry, hub::C2dQueues& queues)
      : auth_(auth), registry_(registry), queues_(queues) {}

  // True if the request is for this API.
  static bool Matches(const net::HttpRequest& request);
  // nullopt: not for this API.
  std::optional<net::HttpResponse> Handle(const net::HttpRequest& request);
  // Counts the messages delivered (null: none); `traffic` must outlive the API.
  void CountIn(hub::ProtocolMetrics* traffic) { traffic_ = traffic; }

 private:
  net::HttpResponse Receive(const std::string& device_id);

  hub::DeviceAuthenticator& auth_;
  hub::Registry& registry_;
  hub::C2dQueues& queues_;
  hub::ProtocolMetrics* traffic_ = nullptr;
};

}  // namespace coffre::hubapi
