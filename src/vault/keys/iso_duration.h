#pragma once
// IsoDuration: an ISO 8601 duration as rotation policies carry them ("P90D", "P2Y", "P1Y6M",
// "PT48H", "P2W"): PnYnMnDTnHnMnS with whole numbers, or PnW alone. A year counts 365 days and
// a month 30 days, as .NET's XmlConvert (and so, we assume, Azure) converts them: "P1Y" is
// always 31,536,000 seconds. The text is kept as given, so a policy echoes what was sent.
// Value type.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace coffre::vault {

struct IsoDuration {
  std::string text;     // as given, e.g. "P90D"
  int64_t seconds = 0;  // always > 0

  // INVALID_ARGUMENT, naming `what` and saying why, for anything but a positive duration of
  // at most 100 years in the forms above.
  static Result<IsoDuration> Parse(std::string_view text, std::string_view what = "duration");
};

inline constexpr int64_t kSecondsPerDay = 86400;

}  // namespace coffre::vault
