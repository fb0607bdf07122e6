#pragma once
// The table of the hub's AMQP nodes: every address the front end serves, one line per kind of
// node (amqp/link_node.h says how to write one).

#include "amqp/hub_parts.h"
#include "amqp/router.h"

namespace coffre::amqp {

void AddHubNodes(Router& router, const HubParts& parts);

}  // namespace coffre::amqp
