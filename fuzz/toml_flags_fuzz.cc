// Fuzzes the daemons' configuration files (config/toml_flags.h): any bytes read as a TOML
// settings file against flags of every kind either give settings or a CLI::ConfigError that
// names the line; never a crash, never another exception.
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "config/daemon_config.h"
#include "config/toml_flags.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string dir, listen, size_text;
  int interval = 100;
  uint64_t bytes = 0;
  double rate = 1;
  bool flag = false;
  std::vector<std::string> names;
  CLI::App app{"fuzz"};
  app.add_option("--dir", dir);
  app.add_option("--mqtt-listen", listen);
  app.add_option("--key-check-interval-ms", interval)->check(CLI::Range(50, 500));
  app.add_option("--audit-file-size", bytes)->transform(CLI::AsSizeValue(false));
  app.add_option("--rate", rate)->check(CLI::Range(0.0, 1e9));
  app.add_flag("--purge-protection", flag);
  app.add_option("--host-name", names);
  app.add_option("--expired-key", size_text)->check(CLI::IsMember({"inaccessible", "continue"}));
  coffre::config::DaemonConfig config;
  coffre::config::AddDaemonConfig(app, "fuzz", config);
  coffre::config::TomlFlags reader(app);
  std::istringstream input(std::string(reinterpret_cast<const char*>(data), size));
  try {
    std::vector<CLI::ConfigItem> items = reader.from_config(input);
    (void)items;
  } catch (const CLI::ConfigError&) {
    // A mistake in the file, named by line: what a daemon prints and exits 2 on.
  }
  return 0;
}
