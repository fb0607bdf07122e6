#include "common/metrics/build_info.h"

#include <string>

namespace coffre::metrics {

std::string_view Version() { return COFFRE_VERSION; }

void AddBuildInfo(Registry& registry, std::string_view prefix) {
  registry.Gauges(std::string(prefix) + "_build_info",
                  "Always 1; the version of the running daemon is in its label.", {"version"})
      .With({Version()})
      .Set(1);
}

}  // namespace coffre::metrics
