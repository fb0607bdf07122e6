#include "net/http_types.h"

#include <strings.h>

#include "common/encoding.h"
#include "common/strings.h"

namespace coffre::net {

std::string_view FindHeader(const HttpHeaders& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && ::strncasecmp(k.data(), name.data(), k.size()) == 0) return v;
  }
  return {};
}

std::optional<std::string> QueryParameter(std::string_view target, std::string_view name) {
  size_t q = target.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::optional<std::string> value;
  for (std::string_view pair : Split(target.substr(q + 1), '&')) {
    size_t eq = pair.find('=');
    if (PercentDecode(pair.substr(0, eq), true) != name) continue;
    value = eq == std::string_view::npos ? "" : PercentDecode(pair.substr(eq + 1), true);
  }
  return value;
}

std::string Origin::ToString() const {
  std::string out = scheme + "://" + host;
  if (!(scheme == "https" && port == 443)) out += ":" + std::to_string(port);
  return out;
}

}  // namespace coffre::net
