#pragma once
// Coffre's admin routes for webhook subscriptions, handed over by RestApi (owner only, like
// /coffre/principals):
//   GET    /coffre/eventsubscriptions        {"value": [subscription...], "nextLink": null}
//   POST   /coffre/eventsubscriptions        {"endpoint", "eventTypes"?, "caPem"?}
//          -> 201 the subscription plus "secret", the only time it is shown
//   GET    /coffre/eventsubscriptions/{id}   one subscription
//   DELETE /coffre/eventsubscriptions/{id}   204
// A subscription reads {"id", "endpoint", "eventTypes", "customCa", "created"}.
// Thread-safe.

#include <string>
#include <vector>

#include "net/http_types.h"
#include "vault/api/access_control.h"
#include "vault/events/event_subscriptions.h"

namespace coffre::vault {

// `segments`: the path split at '/', starting with "coffre", "eventsubscriptions".
net::HttpResponse HandleEventSubscriptions(EventSubscriptions& subscriptions,
                                           const net::HttpRequest& request,
                                           const std::vector<std::string>& segments,
                                           const Principal& caller);

}  // namespace coffre::vault
