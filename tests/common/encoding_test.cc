#include "common/encoding.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace coffre {
namespace {

using testing::StatusIs;

TEST(EncodingTest, HexRoundTripsAndRejectsBadText) {
  Bytes b = {std::byte{0x00}, std::byte{0xab}, std::byte{0xff}};
  EXPECT_EQ(HexEncode(b), "00abff");
  EXPECT_EQ(*HexDecode("00ABff"), b);
  EXPECT_THAT(HexDecode("abc").status(), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(HexDecode("zz").status(), StatusIs(StatusCode::kInvalidArgument));
}

// RFC 4648 section 10 test vectors.
TEST(EncodingTest, Base64MatchesRfc4648Vectors) {
  const char* plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  const char* b64[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(Base64Encode(AsBytes(plain[i])), b64[i]);
    EXPECT_EQ(AsChars(*Base64Decode(b64[i])), plain[i]);
  }
}

TEST(EncodingTest, Base64RejectsMalformedText) {
  EXPECT_FALSE(Base64Decode("Zm9").has_value());
  EXPECT_FALSE(Base64Decode("Zm9v\n").has_value());
  EXPECT_FALSE(Base64Decode("Z=9v").has_value());
  EXPECT_FALSE(Base64Decode("Zm-_").has_value());
}

TEST(EncodingTest, Base64UrlUsesUrlAlphabetWithoutPadding) {
  Bytes b = {std::byte{0xfb}, std::byte{0xff}};
  EXPECT_EQ(Base64Encode(b), "+/8=");
  EXPECT_EQ(Base64UrlEncode(b), "-_8");
  EXPECT_EQ(*Base64UrlDecode("-_8"), b);
  EXPECT_EQ(*Base64UrlDecode("-_8="), b);
  EXPECT_FALSE(Base64UrlDecode("+/8").has_value());
  EXPECT_FALSE(Base64UrlDecode("a").has_value());
}

}  // namespace
}  // namespace coffre

namespace coffre {
namespace {

TEST(EncodingTest, PercentDecodeKeepsMalformedEscapesAndOptionallyMapsPlus) {
  EXPECT_EQ(PercentDecode("api%2Dversion=7.5", false), "api-version=7.5");
  EXPECT_EQ(PercentDecode("a+b%2Bc", true), "a b+c");
  EXPECT_EQ(PercentDecode("a+b%2Bc", false), "a+b+c");
  EXPECT_EQ(PercentDecode("100%", false), "100%");
  EXPECT_EQ(PercentDecode("%zz%4", false), "%zz%4");
  EXPECT_EQ(PercentDecode("%2f%2F", false), "//");
}

TEST(EncodingTest, PercentEncodeIsStrictEncodeUriComponent) {
  EXPECT_EQ(PercentEncode("localhost/devices/dev (1)!'*~._-"),
            "localhost%2Fdevices%2Fdev%20%281%29%21%27%2A~._-");
  EXPECT_EQ(PercentDecode(PercentEncode("h\xc3\xa9/x"), false), "h\xc3\xa9/x");
}

}  // namespace
}  // namespace coffre
