#include "hub/sas_token.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace coffre::hub {
namespace {

using testing::StatusIs;

// Known-answer vectors made with the SDKs' own signing code (iothub-protocol.md §1.5).
constexpr int64_t kExpiry = 1767225600;
constexpr const char* kDeviceToken =
    "SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev-01"
    "&sig=R01njJMIZFpc39KJTTZWhBDpf8L949d1IGbiV5C7MmE%3D&se=1767225600";
constexpr const char* kOddDeviceToken =
    "SharedAccessSignature sr=localhost%2Fdevices%2Fdev%20%281%29%2a"
    "&sig=%2FUdQuuaQbc9ePwT5PTMHWLhegIu8tkmLx4kLg0AxtYc%3D&se=1767225600";
constexpr const char* kServiceToken =
    "SharedAccessSignature sr=myhub.azure-devices.net"
    "&sig=mnVOCy0ieupY1%2FH3BnSINnUcRqZRXaiw4do9WEOWXUI%3D&skn=iothubowner&se=1767225600";

crypto::SecretBytes VectorKey() {  // AAECAwQF...Hh8= : bytes 0x00..0x1f
  Bytes k(32);
  for (size_t i = 0; i < k.size(); ++i) k[i] = std::byte(i);
  return std::move(crypto::SecretBytes::CopyOf(k).value());
}

TEST(SasTokenTest, MakesTheSdksTokensByteForByte) {
  auto key = VectorKey();
  EXPECT_EQ(*MakeSasToken("myhub.azure-devices.net/devices/dev-01", key, kExpiry), kDeviceToken);
  EXPECT_EQ(*MakeSasToken("localhost/devices/dev (1)*", key, kExpiry), kOddDeviceToken);
  EXPECT_EQ(*MakeSasToken("myhub.azure-devices.net", key, kExpiry, "iothubowner"), kServiceToken);
}

TEST(SasTokenTest, VerifiesTheSdksTokens) {
  auto key = VectorKey();
  for (const char* text : {kDeviceToken, kOddDeviceToken, kServiceToken}) {
    COFFRE_ASSERT_OK_AND_ASSIGN(SasToken token, ParseSasToken(text));
    EXPECT_EQ(token.expiry, kExpiry);
    COFFRE_EXPECT_OK(VerifySasToken(token, key, kExpiry - 3600));
  }
  SasToken device = *ParseSasToken(kOddDeviceToken);
  EXPECT_EQ(device.resource, "localhost/devices/dev (1)*");
  EXPECT_FALSE(device.key_name.has_value());
  EXPECT_EQ(*ParseSasToken(kServiceToken)->key_name, "iothubowner");
}

TEST(SasTokenTest, ExpiryAllowsFiveMinutesOfSkewAndNoMore) {
  auto key = VectorKey();
  SasToken token = *ParseSasToken(kDeviceToken);
  COFFRE_EXPECT_OK(VerifySasToken(token, key, kExpiry + 300));
  EXPECT_THAT(VerifySasToken(token, key, kExpiry + 301),
              StatusIs(StatusCode::kUnauthenticated, ::testing::HasSubstr("expired")));
}

TEST(SasTokenTest, WrongKeyOrAnyEditedFieldFails) {
  auto key = VectorKey();
  Bytes other(32, std::byte{7});
  auto wrong = std::move(crypto::SecretBytes::CopyOf(other).value());
  EXPECT_THAT(VerifySasToken(*ParseSasToken(kDeviceToken), wrong, kExpiry),
              StatusIs(StatusCode::kUnauthenticated));
  std::string text = kDeviceToken;
  for (auto [from, to] : {std::pair{"dev-01", "dev-02"}, std::pair{"se=1767225600", "se=1767225601"},
                          std::pair{"sig=R", "sig=S"}}) {
    std::string edited = text;
    edited.replace(edited.find(from), std::string_view(from).size(), to);
    Result<SasToken> t = ParseSasToken(edited);
    if (t.has_value()) {
      EXPECT_THAT(VerifySasToken(*t, key, kExpiry), StatusIs(StatusCode::kUnauthenticated)) << edited;
    }
  }
}

TEST(SasTokenTest, FieldOrderAndNameCaseDoNotMatterAndSrIsCheckedAsSent) {
  auto key = VectorKey();
  COFFRE_ASSERT_OK_AND_ASSIGN(
      SasToken t, ParseSasToken("SharedAccessSignature se=1767225600&SIG=R01njJMIZFpc39KJTTZWhBDpf8L949d1"
                                "IGbiV5C7MmE%3D&Sr=myhub.azure-devices.net%2Fdevices%2Fdev-01"));
  COFFRE_EXPECT_OK(VerifySasToken(t, key, kExpiry));
  // The same resource escaped differently is a different signed string: it must be signed so.
  COFFRE_ASSERT_OK_AND_ASSIGN(std::string policy,
                              MakeSasToken("myhub.azure-devices.net", key, kExpiry, "p"));
  COFFRE_EXPECT_OK(VerifySasToken(*ParseSasToken(policy), key, kExpiry));
  SasToken rescaped = *ParseSasToken(kDeviceToken);
  rescaped.raw_resource = "myhub.azure-devices.net%2fdevices%2fdev-01";
  EXPECT_THAT(VerifySasToken(rescaped, key, kExpiry), StatusIs(StatusCode::kUnauthenticated));
}

TEST(SasTokenTest, MalformedTokensAreRefused) {
  for (std::string_view bad :
       {"", "sr=a&sig=b&se=1", "SharedAccessSignature", "SharedAccessSignature sr=h&se=1",
        "SharedAccessSignature sr=h&sig=R01njJMIZFpc39KJTTZWhBDpf8L949d1IGbiV5C7MmE%3D",
        "SharedAccessSignature sr=h&sig=R01njJMIZFpc39KJTTZWhBDpf8L949d1IGbiV5C7MmE%3D&se=soon",
        "SharedAccessSignature sr=h&sig=R01njJMIZFpc39KJTTZWhBDpf8L949d1IGbiV5C7MmE%3D&se=-5",
        "SharedAccessSignature sr=h&sig=!!!!&se=1",
        "SharedAccessSignature sr=h&sig=AAAA&se=1",
        "SharedAccessSignature sr=h&sr=i&sig=R01njJMIZFpc39KJTTZWhBDpf8L949d1IGbiV5C7MmE%3D&se=1",
        "SharedAccessSignature sr=h&sig=R01njJMIZFpc39KJTTZWhBDpf8L949d1IGbiV5C7MmE%3D&se=1&skn=",
        "SharedAccessSignature sr&sig=x&se=1"}) {
    EXPECT_THAT(ParseSasToken(bad).status(), StatusIs(StatusCode::kUnauthenticated)) << bad;
  }
  std::string huge = "SharedAccessSignature sr=" + std::string(5000, 'a') + "&sig=x&se=1";
  EXPECT_THAT(ParseSasToken(huge).status(), StatusIs(StatusCode::kUnauthenticated));
}

TEST(SasTokenTest, AudienceNamesTheHubOrOneDeviceOrModule) {
  SasAudience hub = *ParseSasAudience("myhub.azure-devices.net");
  EXPECT_EQ(hub.host, "myhub.azure-devices.net");
  EXPECT_FALSE(hub.device_id.has_value());
  SasAudience dev = *ParseSasAudience("localhost/devices/dev (1)*");
  EXPECT_EQ(dev.host, "localhost");
  EXPECT_EQ(*dev.device_id, "dev (1)*");
  SasAudience mod = *ParseSasAudience("h/devices/d/modules/m");
  EXPECT_EQ(*mod.module_id, "m");
  for (std::string_view bad : {"", "h/", "h/devices", "h/devices/", "h/twins/d", "h/devices/d/x/m",
                               "h//devices/d", "h/devices/d/modules/m/x"}) {
    EXPECT_FALSE(ParseSasAudience(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace coffre::hub
