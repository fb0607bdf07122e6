#include "vault/keys/iso_duration.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace coffre::vault {
namespace {

using ::testing::HasSubstr;
using testing::StatusIs;

int64_t Seconds(std::string_view text) {
  Result<IsoDuration> d = IsoDuration::Parse(text);
  EXPECT_TRUE(d.has_value()) << text << ": " << d.status();
  return d.has_value() ? d->seconds : -1;
}

TEST(IsoDurationTest, ParsesEveryUnitWithYearsOf365AndMonthsOf30Days) {
  EXPECT_EQ(Seconds("P90D"), 90 * 86400);
  EXPECT_EQ(Seconds("P2Y"), 2 * 365 * 86400);
  EXPECT_EQ(Seconds("P3M"), 90 * 86400);
  EXPECT_EQ(Seconds("P1Y10D"), 375 * 86400);
  EXPECT_EQ(Seconds("PT48H"), 48 * 3600);
  EXPECT_EQ(Seconds("PT1M"), 60);
  EXPECT_EQ(Seconds("PT90S"), 90);
  EXPECT_EQ(Seconds("P2W"), 14 * 86400);
  EXPECT_EQ(Seconds("P1Y2M3DT4H5M6S"),
            365 * 86400 + 60 * 86400 + 3 * 86400 + 4 * 3600 + 5 * 60 + 6);
  EXPECT_EQ(Seconds("P0DT1S"), 1);
  EXPECT_EQ(IsoDuration::Parse("P1Y6M")->text, "P1Y6M");  // echoed as given
}

TEST(IsoDurationTest, RejectsWhatIsNotADurationWithAClearMessage) {
  for (const char* bad :
       {"",      "P",     "PT",  "90D",   "p90d",  "P90",  "PD",   "P1D2Y",   "P1M1Y",
        "P1DT",  "PT1D",  "P1H", "P1.5D", "P1,5D", "P-1D", "P+1D", "P1D1D",   "PT1S1M",
        "P1W2D", "P1Y1W", "P0D", "PT0S",  "P 1D",  "P1DX", "P1TD", "PT1HT1M", "P12345678901D"}) {
    EXPECT_THAT(
        IsoDuration::Parse(bad, "expiryTime").status(),
        StatusIs(StatusCode::kInvalidArgument, HasSubstr("is not a valid ISO 8601 duration")))
        << "'" << bad << "'";
  }
  EXPECT_THAT(IsoDuration::Parse("P1.5D", "attributes.expiryTime").status(),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("attributes.expiryTime 'P1.5D' is not a valid ISO 8601 duration "
                                 "(PnYnMnDTnHnMnS or PnW): fractions are not supported")));
}

TEST(IsoDurationTest, RejectsMoreThanAHundredYears) {
  EXPECT_EQ(Seconds("P100Y"), int64_t{100} * 365 * 86400);
  EXPECT_THAT(IsoDuration::Parse("P100Y1D").status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("longer than 100 years")));
  EXPECT_THAT(IsoDuration::Parse("PT9999999999S").status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("longer than 100 years")));
}

}  // namespace
}  // namespace coffre::vault
