#pragma once
// The servers' log: one line per event on stderr (the daemon's log file), written with a single
// call so lines from different threads never interleave. Two formats, chosen once at start
// (coffre-hub and coffre-vault --log-format, or COFFRE_LOG_FORMAT):
//   text (default): "<ISO 8601 time> <component>: <message>"
//   json: {"time":"<ISO 8601>","level":"info|warning|error","component":"...","message":"..."}
// A message must never carry a secret (keys, tokens, passwords); control characters and bytes
// outside printable ASCII are escaped (\xNN), so what a client sent cannot forge log lines.
// Thread-safe.

#include <optional>
#include <string>
#include <string_view>

namespace coffre {

enum class LogFormat { kText, kJson };
enum class LogLevel { kInfo, kWarning, kError };

// Before any thread logs.
void SetLogFormat(LogFormat format);
LogFormat CurrentLogFormat();
// "text" or "json"; nullopt for anything else.
std::optional<LogFormat> ParseLogFormat(std::string_view name);

// Level info, or warning when the message starts with "warning:".
void LogLine(std::string_view component, std::string_view message);
void LogLine(LogLevel level, std::string_view component, std::string_view message);

// A daemon's start, stop and failure lines (`daemon`: "coffre-hub"): plain on stdout, errors on
// stderr, as people and the local stack read them ("coffre-hub listening on ...", "coffre-hub:
// <error>"); in the json format, JSON lines like the rest.
void DaemonLine(std::string_view daemon, LogLevel level, std::string_view text);

// Printable ASCII as is, everything else as \xNN: for client-supplied text in a log line.
std::string LogSafe(std::string_view text);

}  // namespace coffre
