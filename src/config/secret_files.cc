#include "config/secret_files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

namespace coffre::config {
namespace {

constexpr std::string_view kCredentialPrefix = "credential:";

std::string Octal(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

}  // namespace

Result<std::filesystem::path> SecretPath(std::string_view setting) {
  if (setting.substr(0, kCredentialPrefix.size()) != kCredentialPrefix) {
    return std::filesystem::path(setting);
  }
  std::string_view name = setting.substr(kCredentialPrefix.size());
  if (name.empty() || name.find('/') != std::string_view::npos || name == "." || name == "..") {
    return InvalidArgument("'" + std::string(setting) +
                           "': a credential's name is one file name (credential:NAME)");
  }
  const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
  if (dir == nullptr || *dir == '\0') {
    return FailedPrecondition("'" + std::string(setting) +
                              "' names a systemd credential, but CREDENTIALS_DIRECTORY is not set "
                              "(give the unit LoadCredential=" + std::string(name) + ":FILE)");
  }
  return std::filesystem::path(dir) / std::string(name);
}

Status CheckSecretFile(const std::filesystem::path& path, std::string_view what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    int error = errno;
    std::string message = std::string(what) + " " + path.string() + ": " + std::strerror(error);
    return error == ENOENT ? NotFound(message) : Unavailable(message);
  }
  const std::string named = std::string(what) + " " + path.string();
  if (!S_ISREG(st.st_mode)) return FailedPrecondition(named + " is not a regular file");
  if (st.st_uid != ::geteuid() && st.st_uid != 0) {
    return FailedPrecondition(named + " belongs to another user (uid " +
                              std::to_string(st.st_uid) + "): it must be this user's or root's");
  }
  if ((st.st_mode & (S_IRWXO | S_IWGRP)) != 0) {
    return FailedPrecondition(named + " can be read or changed by others (mode " +
                              Octal(st.st_mode) + "): chmod 600 it");
  }
  return Status::Ok();
}

Result<std::filesystem::path> SecretFile(std::string_view setting, std::string_view what,
                                         bool may_be_missing) {
  COFFRE_ASSIGN_OR_RETURN(std::filesystem::path path, SecretPath(setting));
  Status checked = CheckSecretFile(path, what);
  if (checked.code() == StatusCode::kNotFound && may_be_missing) return path;
  COFFRE_RETURN_IF_ERROR(checked);
  return path;
}

bool ResolveSecretSetting(std::string_view daemon, std::filesystem::path& path,
                          std::string_view what, bool may_be_missing) {
  if (path.empty()) return true;
  Result<std::filesystem::path> resolved = SecretFile(path.string(), what, may_be_missing);
  if (!resolved.has_value()) {
    std::cerr << daemon << ": " << resolved.error().message() << "\n";
    return false;
  }
  path = *resolved;
  return true;
}

bool ResolveSecretSetting(std::string_view daemon, std::string& path, std::string_view what,
                          bool may_be_missing) {
  std::filesystem::path as_path = path;
  if (!ResolveSecretSetting(daemon, as_path, what, may_be_missing)) return false;
  path = as_path.string();
  return true;
}

bool ResolveTlsSettings(std::string_view daemon, std::filesystem::path& cert,
                        std::filesystem::path& key) {
  Result<std::filesystem::path> certificate = SecretPath(cert.string());
  if (!certificate.has_value()) {
    std::cerr << daemon << ": " << certificate.error().message() << "\n";
    return false;
  }
  cert = *certificate;
  return ResolveSecretSetting(daemon, key, "the TLS key");
}

}  // namespace coffre::config
