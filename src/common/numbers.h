#pragma once
// Parsers for numbers and endpoints read from flags, URLs and requests. They accept only plain
// decimal digits within the stated range and never throw (std::stoi on ":abc" throws and on
// ":70000" wraps a port). Stateless, thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace coffre {

// "0".."max" in decimal, no sign, no spaces, no leading '+'; nullopt otherwise.
std::optional<uint64_t> ParseUnsigned(std::string_view text, uint64_t max = UINT64_MAX);

// A TCP port, 1..65535. `what` names the input in the error ("--listen").
Result<uint16_t> ParsePort(std::string_view text, std::string_view what);

struct HostPort {
  std::string host;  // without brackets: "::1", "127.0.0.1", "localhost"
  uint16_t port = 0;
};

// "host:port" or "[v6]:port"; with a default_port, "host" alone is accepted too.
Result<HostPort> ParseHostPort(std::string_view text, std::string_view what,
                               std::optional<uint16_t> default_port = std::nullopt);

// ParseHostPort for an address to listen on, where port 0 means any free port.
Result<HostPort> ParseListenAddress(std::string_view text, std::string_view what);

}  // namespace coffre
