#pragma once
// Coffre's admin routes for webhook subscriptions, served through the route table (routes.h; owner
// only, like /coffre/principals):
//   GET    /coffre/eventsubscriptions        {"value": [subscription...], "nextLink": null}
//   POST   /coffre/eventsubscriptions        {"endpoint", "eventTypes"?, "caPem"?}
//          -> 201 the subscription plus "secret", the only time it is shown
//   GET    /coffre/eventsubscriptions/{id}   one subscription
//   DELETE /coffre/eventsubscriptions/{id}   204
// A subscription reads {"id", "endpoint", "eventTypes", "customCa", "created"}.
// Thread-safe.

#include <string>

#include "net/http_types.h"
#include "vault/events/event_subscriptions.h"

namespace coffre::vault {

// The routes' handlers (routes.h checks the caller is the owner).
net::HttpResponse ListEventSubscriptions(EventSubscriptions& subscriptions);
net::HttpResponse AddEventSubscription(EventSubscriptions& subscriptions,
                                       const net::HttpRequest& request);
net::HttpResponse GetEventSubscription(EventSubscriptions& subscriptions, const std::string& id);
net::HttpResponse RemoveEventSubscription(EventSubscriptions& subscriptions,
                                          const std::string& id);

}  // namespace coffre::vault
