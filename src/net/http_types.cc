#include "net/http_types.h"

#include <strings.h>

namespace coffre::net {

std::string_view FindHeader(const HttpHeaders& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && ::strncasecmp(k.data(), name.data(), k.size()) == 0) return v;
  }
  return {};
}

std::string Origin::ToString() const {
  std::string out = scheme + "://" + host;
  if (!(scheme == "https" && port == 443)) out += ":" + std::to_string(port);
  return out;
}

}  // namespace coffre::net
