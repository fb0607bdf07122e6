#include "amqp/nodes.h"

#include "amqp/cbs_node.h"
#include "amqp/eventhub_nodes.h"

namespace coffre::amqp {

void AddHubNodes(Router& router, const HubParts& parts) {
  AddCbsNodes(router);                // $cbs: put-token
  AddEventHubNodes(router, parts);    // $management, partition receivers, the redirect
  // (b) the service client's C2D sender and feedback receiver, (c) the device links: one line
  // each here.
}

}  // namespace coffre::amqp
