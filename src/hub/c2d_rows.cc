#include "hub/c2d_rows.h"

#include <cstdio>

namespace coffre::hub {

std::string C2dRowNumber(uint64_t n) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(n));
  return buf;
}

std::optional<uint64_t> C2dRowNumberOf(std::string_view row) {
  if (row.size() < 16) return std::nullopt;
  uint64_t n = 0;
  for (char c : row.substr(row.size() - 16)) {
    int v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (v < 0) return std::nullopt;
    n = n * 16 + static_cast<uint64_t>(v);
  }
  return n;
}

}  // namespace coffre::hub
