#pragma once
// TomlFlags: a daemon's configuration file, in TOML, read as the defaults of its command-line
// flags. Each field names a flag: `key_check_interval_ms = 200` is --key-check-interval-ms,
// and a table is the flag's first word (`[mqtt] listen = "..."` is --mqtt-listen). So the flags
// stay the one list of settings, documented once (docs/CONFIGURATION.md), and precedence is:
// a flag given on the command line, else its environment variable (envname), else the file, else
// the default.
//
// Everything the file says is checked as it is read, against the flag it names: unknown fields,
// wrong types and out-of-range values are errors that name the file, the line and the field
// (CLI::ConfigError). Plugged into CLI11 as its config formatter (DaemonConfig does it).

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace coffre::config {

class TomlFlags : public CLI::Config {
 public:
  explicit TomlFlags(const CLI::App& app) : app_(app) {}

  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override;
  std::string to_config(const CLI::App*, bool, bool, std::string) const override;

 private:
  const CLI::App& app_;
};

}  // namespace coffre::config
