#include "common/time_format.h"

#include <cstdio>
#include <ctime>

namespace coffre {

std::string FormatIsoTime(int64_t ms) {
  if (ms <= 0) return "0001-01-01T00:00:00Z";
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

}  // namespace coffre
