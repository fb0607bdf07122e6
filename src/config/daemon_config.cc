#include "config/daemon_config.h"

#include <cctype>
#include <iostream>
#include <memory>

#include "common/log.h"
#include "config/toml_flags.h"

namespace coffre::config {

std::string FlagEnvironmentName(const std::string& daemon, const std::string& flag) {
  std::string name = "COFFRE_" + daemon + "_" + flag;
  for (char& c : name) {
    c = c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return name;
}

void AddDaemonConfig(CLI::App& app, const std::string& daemon, DaemonConfig& config) {
  // Applied as it is parsed: before the daemon starts any thread that logs.
  app.add_option_function<std::string>(
         "--log-format",
         [](const std::string& name) { SetLogFormat(*ParseLogFormat(name)); },
         "text (default) or json: one JSON object per line")
      ->envname("COFFRE_LOG_FORMAT")
      ->check(CLI::IsMember({"text", "json"}));
  app.config_formatter(std::make_shared<TomlFlags>(app));
  app.set_config("--config", "",
                 "TOML file of settings (docs/CONFIGURATION.md); a flag or its " +
                     FlagEnvironmentName(daemon, "") +
                     "* environment variable overrides the file's value")
      ->each([&config](const std::string& file) { config.file = file; });
  app.add_flag("--check-config", config.check_only,
               "check the settings and the files they name (certificates, keys, secrets), "
               "print what was found, and exit: 0 if all is well")
      ->configurable(false);
  for (CLI::Option* option : app.get_options()) {
    if (option == app.get_help_ptr() || option == app.get_config_ptr()) continue;
    if (!option->get_configurable() || !option->get_envname().empty()) continue;
    if (option->get_lnames().empty()) continue;
    option->envname(FlagEnvironmentName(daemon, option->get_lnames().front()));
  }
}

void AddTlsFlags(CLI::App& app, std::filesystem::path& cert, std::filesystem::path& key,
                 int& watch_seconds) {
  app.add_option("--tls-cert", cert,
                 "PEM certificate chain (a public CA's, or the local stack's); reloaded when it "
                 "changes and on SIGHUP")
      ->required();
  app.add_option("--tls-key", key, "PEM private key (mode 0600, or credential:NAME)")->required();
  app.add_option("--tls-watch-seconds", watch_seconds,
                 "how often the TLS files are looked at for a renewed pair (0: only on SIGHUP)")
      ->check(CLI::Range(0, 86400));
}

std::optional<int> ParseDaemonCommandLine(CLI::App& app, int argc, char** argv,
                                          std::string_view daemon) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ConfigError& error) {  // names the file, line and field
    std::cerr << daemon << ": " << error.what() << "\n";
    return 2;
  } catch (const CLI::FileError& error) {  // --config names no readable file
    std::cerr << daemon << ": configuration file: " << error.what() << "\n";
    return 2;
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  return std::nullopt;
}

}  // namespace coffre::config
