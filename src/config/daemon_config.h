#pragma once
// The settings every daemon shares around its own flags: `--config FILE` (TomlFlags), an
// environment variable per flag (COFFRE_<DAEMON>_<FLAG>, e.g. COFFRE_HUB_MQTT_LISTEN),
// `--log-format` (COFFRE_LOG_FORMAT for both, set as it is parsed), and `--check-config`. Call
// AddDaemonConfig after the daemon's own options, before parsing.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

namespace coffre::config {

struct DaemonConfig {
  std::string file;           // --config, empty if none
  bool check_only = false;    // --check-config: check the settings and their files, then exit
};

// `daemon`: "hub" or "vault", the environment variables' middle word.
void AddDaemonConfig(CLI::App& app, const std::string& daemon, DaemonConfig& config);

// --tls-cert, --tls-key (required) and --tls-watch-seconds (default 2): every daemon's TLS pair.
void AddTlsFlags(CLI::App& app, std::filesystem::path& cert, std::filesystem::path& key,
                 int& watch_seconds);

// app.parse, with errors as a daemon reports them: nullopt when parsed, else the exit code. A
// configuration file's mistakes ("FILE:LINE: FIELD: ...") and an unreadable file exit 2,
// prefixed with `daemon`; the rest as CLI11 reports them (--help: 0).
std::optional<int> ParseDaemonCommandLine(CLI::App& app, int argc, char** argv,
                                          std::string_view daemon);

// The environment variable of a flag: COFFRE_<DAEMON>_<FLAG> (dashes become underscores).
std::string FlagEnvironmentName(const std::string& daemon, const std::string& flag);

}  // namespace coffre::config
