#pragma once
// The device links of azure-iot-device-amqp, on /devices/{id}[/modules/{mid}]/...:
// - messages/events (the device sends): telemetry into TelemetryIngest, each delivery accepted
//   once durable (as a PUBACK), rejected with a condition otherwise (over the hub's quota:
//   amqp:resource-limit-exceeded; too large: amqp:link:message-size-exceeded).
// - messages/devicebound (the device receives; devices only): its C2D queue, one message in
//   flight, the delivery tag its lock token; accepted completes it, rejected dead-letters it,
//   released (or modified) abandons it, and an unsettled one goes back when the link ends.
// - twin (a pair of links, one each way, paired by com.microsoft:channel-correlation-id): GET,
//   PATCH /properties/reported, PUT/DELETE /notifications/twin/properties/desired; answers carry
//   the request's correlation-id and a `status` annotation; desired patches come without one.
// - methods/devicebound (a pair likewise): requests with IoThub-methodname and correlation-id =
//   the request id; answers with the same correlation-id and IoThub-status.
// A link is authorized at attach by a $cbs claim for the identity (a device token, or a policy
// token with DeviceConnect) and guarded until it expires, or by the TLS client certificate of an
// X.509 identity; a device may attach only its own addresses (amqp:unauthorized-access).

#include "amqp/router.h"

namespace coffre::amqp {

void AddDeviceNodes(Router& router);

}  // namespace coffre::amqp
