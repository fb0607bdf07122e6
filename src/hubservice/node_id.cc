#include "hubservice/node_id.h"

#include "common/encoding.h"
#include "common/files.h"
#include "crypto/random.h"

namespace coffre::hubservice {

Result<std::string> LoadOrMakeNodeId(const std::filesystem::path& dir) {
  const std::filesystem::path file = dir / "node-id";
  Result<std::string> stored = ReadTextFile(file);
  if (stored.has_value()) {
    std::string id = *stored;
    while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
    if (id.size() != 16 || id.find_first_not_of("0123456789abcdef") != std::string::npos) {
      return DataLoss(file.string() + " is not a node id (16 hex digits)");
    }
    return id;
  }
  if (stored.error().code() != StatusCode::kNotFound) return stored.error();
  Bytes drawn(8);
  COFFRE_RETURN_IF_ERROR(crypto::RandomBytes(drawn));
  std::string id = HexEncode(drawn);
  COFFRE_RETURN_IF_ERROR(WriteFileDurably(file, AsBytes(id + "\n")));
  return id;
}

}  // namespace coffre::hubservice
