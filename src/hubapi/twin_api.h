#pragma once
// The service's twin and direct-method routes (azure-iothub's Registry.getTwin/updateTwin,
// Twin.update and Client.invokeDeviceMethod): GET, PATCH (If-Match) and PUT on
// /twins/{id} and /twins/{id}/modules/{mid}; POST /twins/{id}[/modules/{mid}]/methods, answered
// when the device answers or a timeout ends the call. Authorized by ServiceConnect policy tokens
// whose sr covers the path. Thread-safe.

#include <optional>

#include "hub/access_policies.h"
#include "hub/method_calls.h"
#include "hub/twins.h"
#include "net/http_types.h"
#include "net/https_server.h"

namespace coffre::hubapi {

class TwinApi {
 public:
  // All must outlive the API.
  TwinApi(hub::Twins& twins, hub::MethodCalls& methods, hub::AccessPolicies& policies)
      : twins_(twins), methods_(methods), policies_(policies) {}

  // True if the request is a twin or method route (then answered through `respond`, at once
  // for twins and once the call ends for methods).
  bool Handle(const net::HttpRequest& request, const net::HttpResponder& respond);

  // True for routes whose answer waits for a durable write (PATCH and PUT on twins), which the
  // caller runs off the io threads.
  static bool Writes(const net::HttpRequest& request);

 private:
  net::HttpResponse Twin(const net::HttpRequest& request, const hub::TwinId& id);
  void Invoke(const net::HttpRequest& request, const hub::TwinId& id,
              const net::HttpResponder& respond);

  hub::Twins& twins_;
  hub::MethodCalls& methods_;
  hub::AccessPolicies& policies_;
};

}  // namespace coffre::hubapi
