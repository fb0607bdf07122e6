#pragma once
// The service side of cloud-to-device messages over REST, authorized by ServiceConnect policy
// tokens:
//   POST /devices/{id}/messages/devicebound  enqueue (Coffre's own route: Azure sends over AMQP);
//        the body is the message, its properties come as iothub-messageid, iothub-correlationid,
//        iothub-userid, iothub-expiry (ISO 8601), iothub-ack, iothub-app-{name} and Content-Type
//   DELETE /devices/{id}/commands            purge, as Azure: {"deviceId","totalMessagesPurged"}
//   GET /messages/serviceBound/feedback      the next feedback records (204 if none), with an ETag
//   DELETE /messages/serviceBound/feedback/{etag}  acknowledges them
// Every route writes to the store: the caller runs Handle off the io threads. Thread-safe.

#include <optional>

#include "hub/access_policies.h"
#include "hub/c2d_queues.h"
#include "hub/registry.h"
#include "net/http_types.h"

namespace coffre::hubapi {

class C2dServiceApi {
 public:
  // All must outlive the API.
  C2dServiceApi(hub::Registry& registry, hub::C2dQueues& queues, hub::AccessPolicies& policies)
      : registry_(registry), queues_(queues), policies_(policies) {}

  static bool Matches(const net::HttpRequest& request);
  // nullopt: not for this API.
  std::optional<net::HttpResponse> Handle(const net::HttpRequest& request);

 private:
  net::HttpResponse Send(const net::HttpRequest& request, const std::string& device_id);
  net::HttpResponse Purge(const std::string& device_id);
  net::HttpResponse Feedback(const net::HttpRequest& request, std::string_view token);

  hub::Registry& registry_;
  hub::C2dQueues& queues_;
  hub::AccessPolicies& policies_;
};

}  // namespace coffre::hubapi
