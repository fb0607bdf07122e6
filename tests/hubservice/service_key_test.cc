// The hub's service key sealed by a PKCS#11 token (SoftHSM2): never on disk in the clear, opened
// at each start with the PIN, refused with another token, a wrong PIN or the wrong kind of file.
#include "hubservice/service_key.h"

#include <gtest/gtest.h>

#include "common/encoding.h"
#include "common/files.h"
#include "softhsm_token.h"
#include "test_util.h"

namespace coffre::hubservice {
namespace {

using coffre::testing::StatusIs;

class ServiceKeyTest : public ::testing::Test {
 protected:
  ServiceKeyToken Token(const std::string& pin) {
    std::filesystem::path pin_file = dir_.path() / ("pin-" + std::to_string(++pins_));
    EXPECT_TRUE(WriteFileDurably(pin_file, AsBytes(pin + "\n"), 0600).ok());
    ServiceKeyToken t;
    t.module = coffre::testing::kSoftHsmModule;
    t.token_label = token_.label();
    t.pin_file = pin_file;
    return t;
  }
  std::filesystem::path file() const { return dir_.path() / "service.key"; }

  coffre::testing::SoftHsmToken token_;
  coffre::testing::TempDir dir_;
  int pins_ = 0;
};

TEST_F(ServiceKeyTest, ASealedKeyIsMadeOnceAndOpensAgainOnlyWithTheToken) {
  COFFRE_ASSERT_OK_AND_ASSIGN(crypto::SecretBytes made, OpenServiceKey(file(), Token(token_.pin())));
  std::string text = *ReadTextFile(file());
  EXPECT_NE(text.find("\"kdf\":\"pkcs11\""), std::string::npos) << text;
  EXPECT_EQ(text.find("\"k\""), std::string::npos) << "no clear key in the file";
  EXPECT_EQ(text.find(Base64UrlEncode(made.Reveal())), std::string::npos);

  ServiceKeyToken again = Token(token_.pin());
  again.token_label.clear();  // the file names its token
  COFFRE_ASSERT_OK_AND_ASSIGN(crypto::SecretBytes opened, OpenServiceKey(file(), again));
  EXPECT_TRUE(opened == made);

  EXPECT_THAT(OpenServiceKey(file(), Token("0000-wrong")).status(),
              StatusIs(StatusCode::kPermissionDenied));
  ServiceKeyToken other = Token(token_.pin());
  other.token_label = "another-token";
  EXPECT_THAT(OpenServiceKey(file(), other).status(),
              StatusIs(StatusCode::kFailedPrecondition, ::testing::HasSubstr("coffre-test")));
  EXPECT_THAT(OpenServiceKey(file(), std::nullopt).status(),
              StatusIs(StatusCode::kFailedPrecondition,
                       ::testing::HasSubstr("--pkcs11-pin-file")));
}

TEST_F(ServiceKeyTest, APlainKeyIsNotTakenForASealedOneNorADamagedFileForAKey) {
  COFFRE_ASSERT_OK(OpenServiceKey(file(), std::nullopt).status());  // a plain one, made
  EXPECT_THAT(OpenServiceKey(file(), Token(token_.pin())).status(),
              StatusIs(StatusCode::kFailedPrecondition, ::testing::HasSubstr("plain key")));
  std::filesystem::path sealed = dir_.path() / "sealed.key";
  COFFRE_ASSERT_OK(OpenServiceKey(sealed, Token(token_.pin())).status());
  std::string text = *ReadTextFile(sealed);
  text.replace(text.find("\"sealed\":\"") + 10, 4, "AAAA");
  COFFRE_ASSERT_OK(WriteFileDurably(sealed, AsBytes(text), 0600));
  EXPECT_THAT(OpenServiceKey(sealed, Token(token_.pin())).status(),
              StatusIs(StatusCode::kPermissionDenied, ::testing::HasSubstr("does not open")));
}

}  // namespace
}  // namespace coffre::hubservice
