#include "vault/keys/iso_duration.h"

#include <cctype>

namespace coffre::vault {
namespace {

constexpr int64_t kMaxSeconds = int64_t{100} * 365 * kSecondsPerDay;
constexpr size_t kMaxDigits = 10;  // no component overflows int64 once scaled

struct Unit {
  char designator;
  bool time_part;  // after 'T'
  int64_t seconds;
};

constexpr Unit kUnits[] = {
    {'Y', false, 365 * kSecondsPerDay},
    {'M', false, 30 * kSecondsPerDay},
    {'W', false, 7 * kSecondsPerDay},
    {'D', false, kSecondsPerDay},
    {'H', true, 3600},
    {'M', true, 60},
    {'S', true, 1},
};

}  // namespace

Result<IsoDuration> IsoDuration::Parse(std::string_view text, std::string_view what) {
  std::string label(what);
  auto bad = [&](const std::string& why) {
    return InvalidArgument("The " + label + " '" + std::string(text) +
                           "' is not a valid ISO 8601 duration (PnYnMnDTnHnMnS or PnW): " + why +
                           ".");
  };
  if (text.size() < 3 || text[0] != 'P') return bad("it must start with P and name a unit");
  IsoDuration out{std::string(text), 0};
  bool time_part = false;
  size_t next_unit = 0;  // units must come in the order of kUnits, each at most once
  int components = 0;
  bool weeks = false;
  size_t i = 1;
  while (i < text.size()) {
    if (text[i] == 'T') {
      if (time_part) return bad("T appears twice");
      time_part = true;
      ++i;
      if (i == text.size()) return bad("T must be followed by hours, minutes or seconds");
      continue;
    }
    size_t start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    if (i == start) return bad("a number must come before each unit");
    if (i - start > kMaxDigits) return bad("a number is too large");
    if (i == text.size()) return bad("the last number has no unit");
    if (text[i] == '.' || text[i] == ',') return bad("fractions are not supported");
    char designator = text[i++];
    int64_t value = std::stoll(std::string(text.substr(start, i - 1 - start)));
    size_t u = next_unit;
    while (u < std::size(kUnits) &&
           (kUnits[u].designator != designator || kUnits[u].time_part != time_part)) {
      ++u;
    }
    if (u == std::size(kUnits)) {
      return bad(std::string("unexpected '") + designator + "' (units go Y M D, then T H M S)");
    }
    if (kUnits[u].designator == 'W') weeks = true;
    next_unit = u + 1;
    ++components;
    out.seconds += value * kUnits[u].seconds;
    if (out.seconds > kMaxSeconds) return bad("longer than 100 years");
  }
  if (components == 0) return bad("it names no unit");
  if (weeks && components > 1) {
    return bad("weeks (PnW) cannot be combined with other units");
  }
  if (out.seconds == 0) return bad("it must be longer than zero");
  return out;
}

}  // namespace coffre::vault
