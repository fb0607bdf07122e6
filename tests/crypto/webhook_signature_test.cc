#include "crypto/webhook_signature.h"

#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "test_util.h"

namespace coffre::crypto {
namespace {

using testing::StatusIs;

constexpr int64_t kNow = 1'800'000'000;
constexpr std::string_view kBody = R"([{"id":"1","eventType":"Coffre.KeyVault.KeyDisabled"}])";

SecretBytes Secret(std::string_view text) { return std::move(SecretBytes::CopyOf(AsBytes(text)).value()); }

TEST(WebhookSignatureTest, SignsTimestampDotBodyWithHmacSha256) {
  SecretBytes secret = Secret("cwh1.test-secret");
  COFFRE_ASSERT_OK_AND_ASSIGN(std::string header, SignWebhook(secret, kNow, kBody));
  // The receiver's computation, spelled out with OpenSSL directly.
  std::string message = std::to_string(kNow) + "." + std::string(kBody);
  unsigned char mac[32];
  unsigned int len = 0;
  ASSERT_NE(HMAC(EVP_sha256(), "cwh1.test-secret", 16,
                 reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &len),
            nullptr);
  EXPECT_EQ(header, "t=1800000000,v1=" + HexEncode(ByteSpan(reinterpret_cast<std::byte*>(mac), len)));
  COFFRE_EXPECT_OK(VerifyWebhook(secret, header, kBody, kNow));
}

TEST(WebhookSignatureTest, VerifyRefusesAnotherBodyOrSecret) {
  SecretBytes secret = Secret("cwh1.right");
  std::string header = SignWebhook(secret, kNow, kBody).value();
  std::string edited(kBody);
  edited[10] ^= 1;
  EXPECT_THAT(VerifyWebhook(secret, header, edited, kNow),
              StatusIs(StatusCode::kUnauthenticated, ::testing::HasSubstr("does not match")));
  EXPECT_THAT(VerifyWebhook(Secret("cwh1.wrong"), header, kBody, kNow),
              StatusIs(StatusCode::kUnauthenticated));
  // The timestamp is signed too: moving it forward (to pass the window) breaks the MAC.
  std::string moved = "t=" + std::to_string(kNow + 1) + header.substr(header.find(','));
  EXPECT_THAT(VerifyWebhook(secret, moved, kBody, kNow), StatusIs(StatusCode::kUnauthenticated));
}

TEST(WebhookSignatureTest, VerifyRefusesATimestampOutsideTheWindow) {
  SecretBytes secret = Secret("cwh1.s");
  std::string old = SignWebhook(secret, kNow - 301, kBody).value();
  std::string future = SignWebhook(secret, kNow + 301, kBody).value();
  EXPECT_THAT(VerifyWebhook(secret, old, kBody, kNow),
              StatusIs(StatusCode::kUnauthenticated, ::testing::HasSubstr("window")));
  EXPECT_THAT(VerifyWebhook(secret, future, kBody, kNow), StatusIs(StatusCode::kUnauthenticated));
  COFFRE_EXPECT_OK(VerifyWebhook(secret, SignWebhook(secret, kNow - 300, kBody).value(), kBody, kNow));
  EXPECT_THAT(VerifyWebhook(secret, SignWebhook(secret, kNow - 10, kBody).value(), kBody, kNow, 5),
              StatusIs(StatusCode::kUnauthenticated));
}

TEST(WebhookSignatureTest, VerifyRefusesMalformedHeaders) {
  SecretBytes secret = Secret("cwh1.s");
  std::string good = SignWebhook(secret, kNow, kBody).value();
  std::string mac = good.substr(good.find("v1="));
  std::vector<std::string> headers = {"", "garbage", "t=" + std::to_string(kNow), mac,
                                      "t=abc," + mac, "t=1800000000x," + mac,
                                      "t=1,t=1800000000," + mac, "t=1800000000,v1=zz",
                                      "t=1800000000,v1=" + std::string(64, '0'),
                                      std::string(2000, 'a')};
  for (const std::string& header : headers) {
    EXPECT_THAT(VerifyWebhook(secret, header, kBody, kNow), StatusIs(StatusCode::kUnauthenticated))
        << header;
  }
  EXPECT_THAT(VerifyWebhook(SecretBytes(), good, kBody, kNow),
              StatusIs(StatusCode::kUnauthenticated, ::testing::HasSubstr("no webhook secret")));
}

TEST(WebhookSignatureTest, AnyOfSeveralMacsMayMatchAndUnknownSchemesAreIgnored) {
  SecretBytes secret = Secret("cwh1.new");
  std::string good = SignWebhook(secret, kNow, kBody).value();
  std::string other = SignWebhook(Secret("cwh1.old"), kNow, kBody).value();
  std::string both = other + "," + good.substr(good.find("v1=")) + ",v2=ffff";
  COFFRE_EXPECT_OK(VerifyWebhook(secret, both, kBody, kNow));
  COFFRE_EXPECT_OK(VerifyWebhook(secret, "v0=1, " + good, kBody, kNow));
}

}  // namespace
}  // namespace coffre::crypto
