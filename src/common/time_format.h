#pragma once
// Times as text. Stateless.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace coffre {

// Milliseconds since the epoch as ISO 8601 UTC, "2026-11-29T20:30:01.123Z"; zero or less is
// Azure's "never", "0001-01-01T00:00:00Z".
std::string FormatIsoTime(int64_t ms);

// "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)" to milliseconds since the epoch; nullopt
// for anything else (fractions beyond milliseconds are truncated).
std::optional<int64_t> ParseIsoTime(std::string_view text);

}  // namespace coffre
