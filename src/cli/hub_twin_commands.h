#pragma once
// `coffre hub twin show|update`, `coffre hub invoke-method`, `coffre hub query` and
// `coffre hub c2d send|purge|feedback`: the twin, method, query and cloud-to-device commands,
// in the spirit of `az iot hub`. Thread-compatible.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cli/hub_command.h"

namespace coffre::cli {

struct TwinCommandOptions : CommonOptions {
  std::string device_id;
  std::string module_id;
  std::vector<std::string> set;  // "tags.site=paris", "properties.desired.interval=5"
  std::string patch_file;        // a JSON file: {"tags":{...},"properties":{"desired":{...}}}
  std::string etag;
  std::string method;
  std::string payload = "null";
  int timeout_s = 30;
  int connect_timeout_s = 0;
  std::string query;
  std::string data;
  std::vector<std::string> properties;  // "name=value"
  std::string message_id;
  std::string ack;
  int64_t expiry_s = 0;  // 0: the hub's default TTL
};

void AddTwinCommands(CLI::App& hub, std::vector<Command>& commands, TwinCommandOptions& o);

// The patch body `--set a.b=v` options and a patch file make: the file first, each --set merged
// over it. A value that parses as JSON is taken as JSON, else as a string. INVALID_ARGUMENT for a
// --set without '=' or a path outside tags and properties.desired.
Result<nlohmann::json> TwinPatchFrom(const std::vector<std::string>& set,
                                     const std::optional<nlohmann::json>& file);

}  // namespace coffre::cli
