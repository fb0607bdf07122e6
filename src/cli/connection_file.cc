#include "cli/connection_file.h"

#include "common/files.h"

namespace coffre::cli {

Result<nlohmann::json> ReadConnectionFile(const std::filesystem::path& file) {
  COFFRE_ASSIGN_OR_RETURN(std::string text, ReadTextFile(file));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return DataLoss(file.string() + " is not a connection file");
  }
  return j;
}

std::string StringField(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

uint16_t PortField(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_number_unsigned() || *it == 0 || *it > 65535) return 0;
  return it->get<uint16_t>();
}

}  // namespace coffre::cli
