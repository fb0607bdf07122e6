#pragma once
// A message's properties as Azure's HTTPS routes carry them in headers: system properties as
// iothub-* headers (IoTHub-MessageId, IoTHub-CorrelationId, iothub-contenttype, ...), application
// properties as iothub-app-{name}. One reading for device-to-cloud sends (device_api) and the
// service's C2D sends (c2d_service_api). Stateless.

#include "hub/message.h"
#include "net/http_types.h"

namespace coffre::hubapi {

// Header names compare without case; a later header wins over an earlier one of the same name.
hub::MessageProperties PropertiesFromHeaders(const net::HttpHeaders& headers);

}  // namespace coffre::hubapi
