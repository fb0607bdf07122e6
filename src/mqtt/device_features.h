#pragma once
// The MQTT front end uses the hub's protocol-neutral DeviceFeatures (hub/device_features.h).

#include "hub/device_features.h"

namespace coffre::mqtt {

using DeviceFeatures = hub::DeviceFeatures;

}  // namespace coffre::mqtt
