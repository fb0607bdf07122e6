#pragma once
// A cluster-mode hub node's id: 16 hex digits drawn at its first start and kept in DIR/node-id,
// so a node restarted on its directory is the same node (its metadata digest shard,
// hub/row_digests.h). Two nodes must not share a directory (DIR/.lock refuses the second).

#include <filesystem>
#include <string>

#include "common/result.h"

namespace coffre::hubservice {

Result<std::string> LoadOrMakeNodeId(const std::filesystem::path& dir);

}  // namespace coffre::hubservice
