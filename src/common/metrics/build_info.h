#pragma once
// The build-info gauge every daemon exposes, as Prometheus exporters do:
//   <prefix>_build_info{version="0.1.0"} 1
// so a dashboard can show which version runs and join it to other series.

#include <string_view>

#include "common/metrics/registry.h"

namespace coffre::metrics {

std::string_view Version();  // the project's version (CMakeLists.txt's project())
void AddBuildInfo(Registry& registry, std::string_view prefix);  // prefix: "coffre_hub"

}  // namespace coffre::metrics
