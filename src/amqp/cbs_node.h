#pragma once
// `$cbs`: claims-based security. The client sends put-token requests (application properties
// operation = "put-token", type, name = the audience; body = the SAS token as an amqp-value
// string) on a link to `$cbs`, and reads answers on a link from `$cbs`. A valid token adds a
// claim to the connection (amqp/claims.h): status-code 200; a bad, expired or foreign one 401
// (the SDKs' UnauthorizedError); a hub that cannot check it now 503.

#include "amqp/router.h"

namespace coffre::amqp {

void AddCbsNodes(Router& router);

}  // namespace coffre::amqp
