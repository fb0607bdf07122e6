#pragma once
// The "$iothub/..." topics of twins and direct methods (the device's requests and the hub's
// replies and notifications), and the C2D topic the hub publishes on. Each device request
// carries a request id ($rid) that the hub echoes, so the SDK can match the reply. Stateless,
// thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace coffre::mqtt {

inline constexpr size_t kMaxRequestIdBytes = 128;

struct IotHubRequest {
  enum class Kind {
    kTwinGet,            // $iothub/twin/GET/?$rid={rid}
    kTwinReportedPatch,  // $iothub/twin/PATCH/properties/reported/?$rid={rid}
    kMethodResponse,     // $iothub/methods/res/{status}/?$rid={rid}
  };
  Kind kind = Kind::kTwinGet;
  std::string rid;  // percent-decoded
  int status = 0;   // kMethodResponse: the status the device's app chose
};

// nullopt: not a "$iothub/" topic (telemetry and others are matched elsewhere). INVALID_ARGUMENT:
// a "$iothub/" topic a device may not publish to, or one without a usable $rid.
Result<std::optional<IotHubRequest>> MatchIotHubRequest(std::string_view topic);

// "$iothub/twin/res/{status}/?$rid={rid}" and, for a reported patch, "&$version={version}".
std::string TwinResponseTopic(int status, std::string_view rid,
                              std::optional<int64_t> version = std::nullopt);
// "$iothub/twin/PATCH/properties/desired/?$version={version}".
std::string DesiredPatchTopic(int64_t version);
// "$iothub/methods/POST/{method}/?$rid={rid}"; `method` must pass hub::ValidMethodName.
std::string MethodRequestTopic(std::string_view method, std::string_view rid);
// "devices/{id}/messages/devicebound/{bag}", the bag as FormatPropertyBag writes it.
std::string CloudToDeviceTopic(std::string_view device_id, std::string_view bag);

}  // namespace coffre::mqtt
