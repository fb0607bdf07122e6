#pragma once
// A daemon's settings written as its configuration file (what `coffre up` gives its daemons):
// the same flags a command line would carry, as TOML fields TomlFlags reads back.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace coffre::config {

// `flags` as on a command line: "--name value", or "--name" alone for a switch (true); a name
// given again makes a list. Integers are written as numbers, the rest as strings. `header`:
// comment lines at the top, without their "# ". Written durably, mode 0600.
Status WriteSettingsFile(const std::filesystem::path& file, const std::vector<std::string>& header,
                         const std::vector<std::string>& flags);

}  // namespace coffre::config
