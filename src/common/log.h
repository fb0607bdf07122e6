#pragma once
// The servers' log: one line per event on stderr (the daemon's log file),
// "<ISO 8601 time> <component>: <message>", written with a single call so lines from different
// threads never interleave. A message must never carry a secret (keys, tokens, passwords);
// control characters and bytes outside printable ASCII are escaped (\xNN), so what a client sent
// cannot forge log lines. Thread-safe.

#include <string>
#include <string_view>

namespace coffre {

void LogLine(std::string_view component, std::string_view message);

// Printable ASCII as is, everything else as \xNN: for client-supplied text in a log line.
std::string LogSafe(std::string_view text);

}  // namespace coffre
