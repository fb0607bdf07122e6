#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "common/time_format.h"

namespace coffre {

std::string LogSafe(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '\\') {
      out.push_back(c);
    } else {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\x%02x", u);
      out += esc;
    }
  }
  return out;
}

namespace {

std::atomic<LogFormat> g_format{LogFormat::kText};

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
    case LogLevel::kInfo: break;
  }
  return "info";
}

}  // namespace

void SetLogFormat(LogFormat format) { g_format.store(format, std::memory_order_relaxed); }
LogFormat CurrentLogFormat() { return g_format.load(std::memory_order_relaxed); }

std::optional<LogFormat> ParseLogFormat(std::string_view name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return std::nullopt;
}

void LogLine(std::string_view component, std::string_view message) {
  bool warning = message.substr(0, 8) == "warning:";
  LogLine(warning ? LogLevel::kWarning : LogLevel::kInfo, component, message);
}

void LogLine(LogLevel level, std::string_view component, std::string_view message) {
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  std::string line;
  if (CurrentLogFormat() == LogFormat::kJson) {
    // LogSafe leaves printable ASCII only; the JSON escapes then need only quotes and
    // backslashes.
    nlohmann::ordered_json j = {{"time", FormatIsoTime(now)},
                        {"level", LevelName(level)},
                        {"component", LogSafe(component)},
                        {"message", LogSafe(message)}};
    line = j.dump() + "\n";
  } else {
    line = FormatIsoTime(now) + " " + std::string(component) + ": " + LogSafe(message) + "\n";
  }
  // One write(2): whole lines, even from many threads.
  (void)!::write(STDERR_FILENO, line.data(), line.size());
}

void DaemonLine(std::string_view daemon, LogLevel level, std::string_view text) {
  if (CurrentLogFormat() == LogFormat::kJson) {
    LogLine(level, daemon, text);
    return;
  }
  bool error = level == LogLevel::kError;
  std::string line = std::string(daemon) + (error ? ": " : " ") + std::string(text) + "\n";
  (void)!::write(error ? STDERR_FILENO : STDOUT_FILENO, line.data(), line.size());
}

}  // namespace coffre
