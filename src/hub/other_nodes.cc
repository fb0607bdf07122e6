#include "hub/other_nodes.h"

namespace coffre::hub {

Status RefuseWithOtherNodes(const OtherLiveNodes& other_nodes, std::string_view what) {
  if (!other_nodes) return Status::Ok();
  Result<std::vector<std::string>> others = other_nodes();
  if (!others.has_value()) {
    return others.error().WithContext(std::string(what) + " needs to know which hub nodes run");
  }
  if (others->empty()) return Status::Ok();
  std::string names;
  for (const std::string& id : *others) names += (names.empty() ? "" : ", ") + id;
  return FailedPrecondition(std::string(what) + " does not yet reach the other hub nodes "
                            "running on this cluster store (" + names + "): stop them, make "
                            "it on this node, then start them again (docs/CLUSTER.md)");
}

}  // namespace coffre::hub
