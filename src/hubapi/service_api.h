#pragma once
// The hub's service REST API as the azure-iothub SDK's Registry uses it
// (iothub-protocol.md §5.1-5.3): device identities (create, get, update with If-Match, delete,
// list), their module identities (/devices/{id}/modules[/{mid}]) and registry statistics,
// authorized by shared access policy tokens (RegistryRead, RegistryWrite) whose sr covers the
// path (sr=host/devices/devB reaches only /devices/devB and its modules). Errors are Azure-shaped: {"Message":"ErrorCode:<Name>;<text>", ...} with an
// iothub-errorcode header. Thread-safe.

#include <nlohmann/json_fwd.hpp>

#include "hub/access_policies.h"
#include "hub/c2d_queues.h"
#include "hub/registry.h"
#include "net/http_error.h"
#include "net/http_types.h"

namespace coffre::hubapi {

class HttpThrottle;

// How registry and twin Status codes read over HTTP, as IoT Hub answers; a Status's detail
// ("ModuleNotFound", "DeviceNotOnline") is the error code when it has one.
const net::HttpErrorTable& RegistryErrors();
// The error response for `s` (not OK) in the registry's terms.
net::HttpResponse ErrorFor(const Status& s);
// A JSON reply (text that is not UTF-8 replaced, never thrown on), and a 204 without a body:
// how every hub route answers success.
net::HttpResponse JsonResponse(const nlohmann::json& body, unsigned status = 200);
net::HttpResponse NoContent();

class ServiceApi {
 public:
  // registry and policies must outlive the API.
  ServiceApi(hub::Registry& registry, hub::AccessPolicies& policies)
      : registry_(registry), policies_(policies) {}

  // nullopt: not a service path (another API may serve it).
  std::optional<net::HttpResponse> Handle(const net::HttpRequest& request);

  static net::HttpResponse Error(unsigned status, std::string_view code, std::string_view message);
  // A caller AccessPolicies::Authorize refused: 401 for its credentials or rights, else 503.
  static net::HttpResponse RefusedCaller(const Status& why);
  // Whether `target` (its query aside) is the hub's own route /$coffre/<name>, "$" sent as it is
  // or percent-encoded.
  static bool IsCoffrePath(std::string_view target, std::string_view name);

  // Authorized registry operations draw on throttle's hub-wide quota (nullptr: none). The
  // throttle must outlive the API.
  void set_throttle(HttpThrottle* throttle) { throttle_ = throttle; }
  // A device's cloudToDeviceMessageCount is its queue's depth (nullptr: 0). The queues must
  // outlive the API.
  void set_c2d_queues(hub::C2dQueues* queues) { c2d_ = queues; }

 private:
  net::HttpResponse PutDevice(const net::HttpRequest& request, const std::string& id);
  net::HttpResponse Modules(const net::HttpRequest& request, const std::string& device_id,
                            std::optional<std::string> module_id);
  net::HttpResponse PutModule(const net::HttpRequest& request, const std::string& device_id,
                              const std::string& module_id);

  // The device as the registry API shows it, its queue depth counted.
  Result<nlohmann::json> DeviceView(const hub::DeviceIdentity& d);

  hub::Registry& registry_;
  hub::AccessPolicies& policies_;
  HttpThrottle* throttle_ = nullptr;
  hub::C2dQueues* c2d_ = nullptr;
};

}  // namespace coffre::hubapi
