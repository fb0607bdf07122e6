#include "config/config_check.h"

#include <unistd.h>

#include <chrono>
#include <iostream>

#include "common/files.h"
#include "common/time_format.h"
#include "config/secret_files.h"
#include "net/certificates.h"
#include "net/server_certificates.h"

namespace coffre::config {

void ConfigCheck::Add(bool ok, std::string line) {
  ok_ = ok_ && ok;
  lines_.push_back((ok ? "ok       " : "PROBLEM  ") + std::move(line));
}

void ConfigCheck::Warn(std::string line) { lines_.push_back("WARNING  " + std::move(line)); }

void ConfigCheck::Certificates(const std::filesystem::path& cert_file,
                               const std::filesystem::path& key_file) {
  auto pair = net::ServerCertificates::Load(cert_file, key_file);
  if (!pair.has_value()) return Add(false, pair.error().message());
  auto left = (*pair)->not_after() - std::chrono::system_clock::now();
  auto days = std::chrono::duration_cast<std::chrono::hours>(left).count() / 24;
  int64_t expiry_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          (*pair)->not_after().time_since_epoch())
                          .count();
  std::string line = "TLS certificate " + cert_file.string() + " (" + (*pair)->subject() +
                     ") with its key, expires " + FormatIsoTime(expiry_ms);
  if (left <= std::chrono::system_clock::duration::zero()) {
    return Add(false, line + ": EXPIRED");
  }
  if (days < 14) return Warn(line + ": in " + std::to_string(days) + " days, renew it");
  Add(true, line);
}

void ConfigCheck::CaFile(const std::filesystem::path& file, std::string_view what) {
  auto text = ReadTextFile(file);
  if (!text.has_value()) return Add(false, std::string(what) + ": " + text.error().message());
  auto info = net::DescribeCertificate(*text);
  if (!info.has_value()) {
    return Add(false, std::string(what) + " " + file.string() + ": no PEM certificate in it");
  }
  Add(true, std::string(what) + " " + file.string() + " (" + info->subject + ")");
}

void ConfigCheck::Secret(const std::filesystem::path& file, std::string_view what,
                         bool may_be_missing) {
  Status s = CheckSecretFile(file, what);
  if (s.code() == StatusCode::kNotFound && may_be_missing) {
    return Add(true, std::string(what) + " " + file.string() + " (made at the first start)");
  }
  if (!s.ok()) return Add(false, s.message());
  Add(true, std::string(what) + " " + file.string());
}

void ConfigCheck::DataDirectory(const std::filesystem::path& dir) {
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) {
    bool writable = ::access(dir.c_str(), W_OK | X_OK) == 0;
    return Add(writable, "data directory " + dir.string() +
                             (writable ? "" : ": not writable by this user"));
  }
  if (std::filesystem::exists(dir, ec)) {
    return Add(false, "data directory " + dir.string() + ": exists and is not a directory");
  }
  std::filesystem::path parent = dir.parent_path().empty() ? "." : dir.parent_path();
  bool creatable = ::access(parent.c_str(), W_OK | X_OK) == 0;
  Add(creatable, "data directory " + dir.string() +
                     (creatable ? " (made at the first start)"
                                : ": missing, and " + parent.string() + " is not writable"));
}

int ConfigCheck::Print(std::string_view daemon, const std::string& config_file) const {
  std::cout << daemon << ": settings from "
            << (config_file.empty() ? std::string("flags and environment only")
                                    : config_file + ", flags and environment")
            << "\n";
  for (const std::string& line : lines_) std::cout << "  " << line << "\n";
  std::cout << daemon << (ok_ ? ": configuration OK\n" : ": configuration has problems\n");
  return ok_ ? 0 : 1;
}

}  // namespace coffre::config
