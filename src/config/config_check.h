#pragma once
// --check-config: what a daemon's settings name, looked at without starting it. Each check adds
// one line ("ok", a warning, or the problem); Print shows them all, so one run finds every
// problem.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace coffre::config {

class ConfigCheck {
 public:
  // The TLS pair loads and matches; its subject and expiry (a warning inside 14 days).
  void Certificates(const std::filesystem::path& cert_file, const std::filesystem::path& key_file);
  // A PEM CA certificate that clients trust (the vault's, for the hub).
  void CaFile(const std::filesystem::path& file, std::string_view what);
  // A secret file: present, and kept as a secret (secret_files.h). `may_be_missing`: created at
  // the first start.
  void Secret(const std::filesystem::path& file, std::string_view what, bool may_be_missing);
  // The data directory exists and is writable, or can be created.
  void DataDirectory(const std::filesystem::path& dir);
  void Add(bool ok, std::string line);
  void Warn(std::string line);  // worth acting on, but the daemon would run

  // Every line, then a verdict; the exit code: 0 if all is well, 1 if not.
  int Print(std::string_view daemon, const std::string& config_file) const;

 private:
  std::vector<std::string> lines_;
  bool ok_ = true;
};

}  // namespace coffre::config
