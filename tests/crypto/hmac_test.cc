#include "crypto/hmac.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace coffre::crypto {
namespace {

TEST(HmacTest, MatchesRfc4231TestCase2) {
  auto key = std::move(SecretBytes::CopyOf(AsBytes("Jefe")).value());
  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes mac, HmacSha256(key, AsBytes("what do ya want for nothing?")));
  EXPECT_EQ(HexEncode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(HmacTest, DifferentKeysGiveDifferentMacs) {
  auto a = std::move(SecretBytes::Random(32).value());
  auto b = std::move(SecretBytes::Random(32).value());
  EXPECT_NE(HmacSha256(a, AsBytes("x")).value(), HmacSha256(b, AsBytes("x")).value());
}

}  // namespace
}  // namespace coffre::crypto
