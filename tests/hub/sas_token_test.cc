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

// Issue 12, finding 6: sr bounds a policy token as a prefix of the resource, by whole segments.
TEST(SasScopeTest, SrIsAPrefixBoundBySegment) {
  auto covers = [](std::string_view sr, std::string_view path) {
    Result<SasScope> scope = ParseSasScope(sr);
    return scope.has_value() && ScopeCovers(*scope, ResourceOfPath(path));
  };
  // The whole hub covers everything; a device covers itself and what is below it.
  EXPECT_TRUE(covers("h", "/devices/devA"));
  EXPECT_TRUE(covers("h", "/$coffre/encryption"));
  EXPECT_TRUE(covers("h/devices", "/devices/devA?api-version=2021-04-12"));
  EXPECT_TRUE(covers("h/devices", "/devices"));
  EXPECT_TRUE(covers("h/devices/devB", "/devices/devB"));
  EXPECT_TRUE(covers("h/devices/devB/", "/devices/devB"));
  EXPECT_TRUE(covers("h/devices/devB", "/devices/devB/modules/m1"));
  EXPECT_TRUE(covers("h/devices/devB", "/devices/devB/modules"));
  EXPECT_TRUE(covers("h/devices/devB/modules/m1", "/devices/devB/modules/m1"));
  EXPECT_TRUE(covers("h/DEVICES/devB", "/devices/devB"));  // fixed words: any case
  EXPECT_TRUE(covers("h/devices/a b%2Fc", "/devices/a%20b%252Fc"));  // ids decoded once each
  // ...and nothing else.
  EXPECT_FALSE(covers("h/devices/devB", "/devices/devA"));
  EXPECT_FALSE(covers("h/devices/devB", "/devices/devBB"));
  EXPECT_FALSE(covers("h/devices/dev", "/devices/devB"));
  EXPECT_FALSE(covers("h/devices/devb", "/devices/devB"));  // ids are case-sensitive
  EXPECT_FALSE(covers("h/devices/devB", "/devices"));
  EXPECT_FALSE(covers("h/devices/devB", "/statistics/devices"));
  EXPECT_FALSE(covers("h/devices/devB", "/$coffre/encryption"));
  EXPECT_FALSE(covers("h/devices/devB", "/telemetry/partitions"));
  EXPECT_FALSE(covers("h/devices/devB", ""));  // the hub as a whole
  EXPECT_FALSE(covers("h/devices/devB/modules/m1", "/devices/devB"));
  EXPECT_FALSE(covers("h/devices/devB/modules/m1", "/devices/devB/modules/m2"));
  EXPECT_FALSE(covers("h/devices/devB/../devA", "/devices/devA"));
  EXPECT_FALSE(covers("h//devices", "/devices/devA"));
  EXPECT_FALSE(covers("/", "/devices/devA"));
  EXPECT_EQ(ParseSasScope("MyHub.Example/devices/d")->host, "MyHub.Example");
}

TEST(SasScopeTest, DeviceResourcesMarkTheirIds) {
  SasResource r = DeviceResource("devB", "modules");
  ASSERT_EQ(r.size(), 4u);
  EXPECT_FALSE(r[0].is_id);
  EXPECT_TRUE(r[1].is_id);
  EXPECT_FALSE(r[2].is_id);
  EXPECT_TRUE(r[3].is_id);
  EXPECT_EQ(r[3].text, "modules");
  SasResource p = ResourceOfPath("/devices/modules/modules/devices");  // ids named like words
  ASSERT_EQ(p.size(), 4u);
  EXPECT_TRUE(p[1].is_id);
  EXPECT_FALSE(p[2].is_id);
  EXPECT_TRUE(p[3].is_id);
}

}  // namespace
}  // namespace coffre::hub
