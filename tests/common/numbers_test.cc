#include "common/numbers.h"

#include <gtest/gtest.h>

namespace coffre {
namespace {

TEST(ParseUnsignedTest, AcceptsOnlyDecimalDigitsWithinTheMaximum) {
  EXPECT_EQ(ParseUnsigned("0"), 0u);
  EXPECT_EQ(ParseUnsigned("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(ParseUnsigned("100", 100), 100u);
  for (const char* bad : {"", "-1", "+1", " 1", "1 ", "0x10", "1e3", "abc", "101",
                          "18446744073709551616", "999999999999999999999"}) {
    EXPECT_FALSE(ParseUnsigned(bad, std::string_view(bad) == "101" ? 100 : UINT64_MAX)) << bad;
  }
}

TEST(ParsePortTest, RejectsWhatStoiWouldThrowOnOrWrap) {
  EXPECT_EQ(*ParsePort("8443", "--listen"), 8443);
  EXPECT_EQ(*ParsePort("65535", "--listen"), 65535);
  for (const char* bad : {"abc", "70000", "65536", "0", "", "-1", "80x"}) {
    auto port = ParsePort(bad, "--listen");
    ASSERT_FALSE(port.has_value()) << bad;
    EXPECT_EQ(port.error().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(port.error().message().find("--listen"), std::string::npos);
  }
}

TEST(ParseHostPortTest, ReadsNamesIpv4AndBracketedIpv6) {
  auto v4 = ParseHostPort("127.0.0.1:8883", "--mqtt");
  ASSERT_TRUE(v4.has_value());
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 8883);
  auto v6 = ParseHostPort("[::1]:443", "--https");
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 443);
  auto bare = ParseHostPort("localhost", "url", 443);
  ASSERT_TRUE(bare.has_value());
  EXPECT_EQ(bare->port, 443);
}

TEST(ParseHostPortTest, RejectsMalformedEndpoints) {
  for (const char* bad : {"127.0.0.1", ":8443", "host:abc", "host:70000", "[::1", "[::1]8443",
                          "::1:8443", "[]:80", "host:"}) {
    EXPECT_FALSE(ParseHostPort(bad, "--listen").has_value()) << bad;
  }
}

TEST(ParseListenAddressTest, TakesPortZeroForAnyFreePortAndOtherwiseParsesAsHostPort) {
  auto any = ParseListenAddress("127.0.0.1:0", "--listen");
  ASSERT_TRUE(any.has_value());
  EXPECT_EQ(any->host, "127.0.0.1");
  EXPECT_EQ(any->port, 0);
  auto v6 = ParseListenAddress("[::1]:0", "--listen");
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(ParseListenAddress("0.0.0.0:8883", "--listen")->port, 8883);
  for (const char* bad : {":0", "[::1:0", "::1:0", "host:00", "host:abc", "host:70000", "host",
                          "host:-0"}) {
    auto parsed = ParseListenAddress(bad, "--listen");
    ASSERT_FALSE(parsed.has_value()) << bad;
    EXPECT_NE(parsed.error().message().find("--listen"), std::string::npos) << bad;
  }
}

}  // namespace
}  // namespace coffre
