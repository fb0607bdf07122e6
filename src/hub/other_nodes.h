#pragma once
// The other hub nodes alive on this hub's cluster store now, by node id (none in embedded
// mode). What does not yet reach other nodes (a change of the customer-managed key or of the
// encryption settings: each node keeps its own copy in memory) is refused while there are any,
// rather than done on one node only.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace coffre::hub {

using OtherLiveNodes = std::function<Result<std::vector<std::string>>()>;

// OK if `other_nodes` is null or finds none; else FAILED_PRECONDITION saying that `what` does
// not reach them, naming them (or the error finding them).
Status RefuseWithOtherNodes(const OtherLiveNodes& other_nodes, std::string_view what);

}  // namespace coffre::hub
