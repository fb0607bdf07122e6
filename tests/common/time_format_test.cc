#include "common/time_format.h"

#include <gtest/gtest.h>

namespace coffre {
namespace {

TEST(TimeFormatTest, FormatsAndParsesBackToTheMillisecond) {
  for (int64_t ms : {int64_t{1}, int64_t{1'800'000'000'123}, int64_t{951'782'400'000}}) {
    EXPECT_EQ(ParseIsoTime(FormatIsoTime(ms)), ms) << FormatIsoTime(ms);
  }
  EXPECT_EQ(FormatIsoTime(0), "0001-01-01T00:00:00Z");
}

TEST(TimeFormatTest, ParsesOffsetsAndFractions) {
  EXPECT_EQ(ParseIsoTime("2027-01-15T08:00:00Z"), 1'800'000'000'000);
  EXPECT_EQ(ParseIsoTime("2027-01-15T09:30:00+01:30"), 1'800'000'000'000);
  EXPECT_EQ(ParseIsoTime("2027-01-15T07:00:00.5-01:00"), 1'800'000'000'500);
  EXPECT_EQ(ParseIsoTime("2027-01-15T08:00:00.1234567Z"), 1'800'000'000'123);
}

TEST(TimeFormatTest, RefusesAnythingElse) {
  for (const char* bad : {"", "2027-01-15", "2027-01-15T08:00:00", "2027-01-15 08:00:00Z",
                          "2027-13-01T00:00:00Z", "2027-01-15T24:00:00Z", "2027-01-15T08:00:00.Z",
                          "2027-01-15T08:00:00Zjunk", "1800000000000", "2027-01-15T08:00:00+0100"}) {
    EXPECT_FALSE(ParseIsoTime(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace coffre
