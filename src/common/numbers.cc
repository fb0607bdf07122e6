#include "common/numbers.h"

#include <charconv>

namespace coffre {

std::optional<uint64_t> ParseUnsigned(std::string_view text, uint64_t max) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > max) return std::nullopt;
  return value;
}

Result<uint16_t> ParsePort(std::string_view text, std::string_view what) {
  auto port = ParseUnsigned(text, 65535);
  if (!port || *port == 0) {
    return InvalidArgument(std::string(what) + ": port must be a number from 1 to 65535");
  }
  return static_cast<uint16_t>(*port);
}

Result<HostPort> ParseHostPort(std::string_view text, std::string_view what,
                               std::optional<uint16_t> default_port) {
  HostPort out;
  std::string_view rest;
  if (!text.empty() && text.front() == '[') {  // [::1]:8443
    auto close = text.find(']');
    if (close == std::string_view::npos) {
      return InvalidArgument(std::string(what) + ": IPv6 address has no closing ']'");
    }
    out.host = std::string(text.substr(1, close - 1));
    rest = text.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') {
      return InvalidArgument(std::string(what) + " must be host:port or [v6]:port");
    }
  } else {
    auto colon = text.rfind(':');
    if (colon != std::string_view::npos && text.find(':') != colon) {
      return InvalidArgument(std::string(what) + ": write an IPv6 address as [v6]:port");
    }
    out.host = std::string(text.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view() : text.substr(colon);
  }
  if (out.host.empty()) return InvalidArgument(std::string(what) + " has no host");
  if (rest.empty()) {
    if (!default_port) return InvalidArgument(std::string(what) + " must be host:port");
    out.port = *default_port;
    return out;
  }
  COFFRE_ASSIGN_OR_RETURN(out.port, ParsePort(rest.substr(1), what));
  return out;
}

Result<HostPort> ParseListenAddress(std::string_view text, std::string_view what) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || text.substr(colon + 1) != "0") {
    return ParseHostPort(text, what);
  }
  // The host checked as ParseHostPort checks it, with a stand-in port.
  COFFRE_ASSIGN_OR_RETURN(HostPort out,
                          ParseHostPort(std::string(text.substr(0, colon)) + ":1", what));
  out.port = 0;
  return out;
}

}  // namespace coffre
