#include "common/log.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>

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

void LogLine(std::string_view component, std::string_view message) {
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  std::string line = FormatIsoTime(now) + " " + std::string(component) + ": " + LogSafe(message) + "\n";
  // One write(2): whole lines, even from many threads.
  (void)!::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace coffre
