#include "amqp/nodes.h"

#include "amqp/cbs_node.h"
#include "amqp/device_nodes.h"
#include "amqp/eventhub_nodes.h"
#include "amqp/service_nodes.h"

namespace coffre::amqp {

void AddHubNodes(Router& router, const HubParts& parts) {
  AddCbsNodes(router);                // $cbs: put-token
  AddEventHubNodes(router, parts);    // $management, partition receivers, the redirect
  AddServiceNodes(router);            // C2D sends, feedback, file notifications
  AddDeviceNodes(router);             // devices/{id}/...: telemetry, C2D, twin, methods
}

}  // namespace coffre::amqp
