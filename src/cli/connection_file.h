#pragma once
// Reading a stack's DIR/connection.json, for the commands that take --dir. Stateless.

#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace coffre::cli {

// DATA_LOSS if the file is not a JSON object.
Result<nlohmann::json> ReadConnectionFile(const std::filesystem::path& file);

// The string field `name`, or "" when absent or not a string.
std::string StringField(const nlohmann::json& j, const char* name);

// The port field `name` (1..65535), or 0 when absent or not a port.
uint16_t PortField(const nlohmann::json& j, const char* name);

}  // namespace coffre::cli
