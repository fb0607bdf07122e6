#pragma once
// The service client's nodes (azure-iothub's Client over AMQP), ServiceConnect claims only:
// - /messages/devicebound (the client sends): each message's `to` names the device; the message
//   goes into its C2D queue (hub::SendC2d, as the HTTPS route does), then the delivery is
//   accepted, or rejected with Azure's condition (amqp:not-found, amqp:resource-limit-exceeded,
//   amqp:link:message-size-exceeded, com.microsoft:argument-error).
// - /messages/serviceBound/feedback (the client receives): the hub's feedback records in batches,
//   one message each (a Data section of JSON); a batch the client accepts (or rejects) is
//   acknowledged, as the HTTPS feedback DELETE does; released, it comes again.
// - /messages/serviceBound/filenotifications: attached, nothing to send (no file upload).

#include "amqp/router.h"

namespace coffre::amqp {

void AddServiceNodes(Router& router);

}  // namespace coffre::amqp
