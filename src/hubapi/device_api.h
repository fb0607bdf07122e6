#pragma once
// The HTTPS device API as azure-iot-device-http uses it (iothub-protocol.md §4.1): a device
// sends one telemetry message with POST /devices/{id}/messages/events (a module:
// /devices/{id}/modules/{mid}/messages/events), its SAS token (its own, or a DeviceConnect
// policy's whose sr covers it) in the Authorization header, the body as the request body
// (chunked is fine) and its properties in iothub-* headers. The answer (204) comes only once the
// message is durable: TelemetryIngest's completion sends it, so no thread waits for the group
// commit. Messages take from the hub-wide device-to-cloud quota (hub::Quotas) shared with MQTT:
// over it, 429 ThrottlingException with Retry-After, as IoT Hub answers HTTPS devices.
// Thread-safe.

#include <optional>

#include "hub/device_auth.h"
#include "hub/hub_metrics.h"
#include "hub/quotas.h"
#include "hub/telemetry_ingest.h"
#include "net/http_types.h"
#include "net/https_server.h"

namespace coffre::hubapi {

class DeviceApi {
 public:
  // auth, ingest and quotas (optional: none, no quota) must outlive the API.
  DeviceApi(hub::DeviceAuthenticator& auth, hub::TelemetryIngest& ingest,
            hub::Quotas* quotas = nullptr)
      : auth_(auth), ingest_(ingest), quotas_(quotas) {}

  // False if the request is not for this API; else it is answered through `respond`: at once
  // if refused, else once every message is durable (or failed to be stored).
  bool Handle(const net::HttpRequest& request, const net::HttpResponder& respond);
  // Counts the messages received (null: none); `traffic` must outlive the API.
  void CountIn(hub::ProtocolMetrics* traffic) { traffic_ = traffic; }

 private:
  std::optional<net::HttpResponse> Submit(const net::HttpRequest& request,
                                          const net::HttpResponder& respond);

  hub::DeviceAuthenticator& auth_;
  hub::TelemetryIngest& ingest_;
  hub::Quotas* quotas_;
  hub::ProtocolMetrics* traffic_ = nullptr;
};

}  // namespace coffre::hubapi
