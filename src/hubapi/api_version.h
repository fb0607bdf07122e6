#pragma once
// The api-version query parameter of IoT Hub's REST APIs: required, and one that Azure IoT Hub
// has published for its data plane (the SDKs send 2021-04-12; the digital twin client
// 2020-09-30). Anything else is refused as Azure refuses it. Stateless.

#include <optional>

#include "net/http_types.h"

namespace coffre::hubapi {

// nullopt if the request names a supported api-version; else the 400 to answer with.
std::optional<net::HttpResponse> CheckApiVersion(const net::HttpRequest& request);

}  // namespace coffre::hubapi
