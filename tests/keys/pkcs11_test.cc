// The PKCS#11 plumbing against a real SoftHSM2 token started by the test (softhsm_token.h).
#include <gtest/gtest.h>

#include "keys/pkcs11_aes_key.h"
#include "keys/pkcs11_error.h"
#include "keys/pkcs11_module.h"
#include "keys/pkcs11_session.h"
#include "softhsm_token.h"
#include "test_util.h"

namespace coffre::keys {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::SoftHsmToken;
using testing::StatusIs;

const Bytes kIv(12, std::byte{7});

TEST(Pkcs11ModuleTest, LoadFailsClearlyWhenTheLibraryIsMissingOrNotAModule) {
  EXPECT_THAT(Pkcs11Module::Load("/nonexistent/libnothing.so").status(),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("cannot load PKCS#11 module")));
  EXPECT_THAT(Pkcs11Module::Load("libz.so.1").status(),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("no C_GetFunctionList")));
}

TEST(Pkcs11ModuleTest, FindTokenNamesTheTokensPresent) {
  SoftHsmToken token;
  COFFRE_ASSERT_OK_AND_ASSIGN(auto module, Pkcs11Module::Load(testing::kSoftHsmModule));
  COFFRE_EXPECT_OK(module->FindToken("coffre-test").status());
  EXPECT_THAT(module->FindToken("other").status(),
              StatusIs(StatusCode::kNotFound, HasSubstr("tokens present: 'coffre-test'")));
  EXPECT_THAT(module->FindToken(std::string(33, 'x')).status(),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST(Pkcs11SessionTest, WrongPinIsPermissionDeniedWithoutThePin) {
  SoftHsmToken token;
  COFFRE_ASSERT_OK_AND_ASSIGN(auto module, Pkcs11Module::Load(testing::kSoftHsmModule));
  auto session = Pkcs11Session::Open(*module, token.label(), token.Pin("9999-wrong"));
  EXPECT_THAT(session.status(), StatusIs(StatusCode::kPermissionDenied,
                                         HasSubstr("wrong PIN (CKR_PIN_INCORRECT)")));
  EXPECT_THAT(session.status().message(), Not(HasSubstr("9999")));
  COFFRE_EXPECT_OK(Pkcs11Session::Open(*module, token.label(), token.Pin()).status());
}

TEST(Pkcs11AesKeyTest, GeneratedKeyNeverLeavesTheTokenAndSealsWithGcm) {
  SoftHsmToken token;
  COFFRE_ASSERT_OK_AND_ASSIGN(auto module, Pkcs11Module::Load(testing::kSoftHsmModule));
  COFFRE_ASSERT_OK_AND_ASSIGN(auto session,
                              Pkcs11Session::Open(*module, token.label(), token.Pin()));
  EXPECT_THAT(Pkcs11AesKey::Find(*session, "k").status(),
              StatusIs(StatusCode::kNotFound, HasSubstr("key 'k' on PKCS#11 token "
                                                        "'coffre-test' is missing")));
  COFFRE_ASSERT_OK_AND_ASSIGN(Pkcs11AesKey made, Pkcs11AesKey::Generate(*session, "k"));
  COFFRE_ASSERT_OK_AND_ASSIGN(Pkcs11AesKey key, Pkcs11AesKey::Find(*session, "k"));

  // Its value cannot be read out.
  CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
  CK_ATTRIBUTE query[] = {{CKA_CLASS, &secret, sizeof secret}};
  CK_FUNCTION_LIST& f = session->functions();
  ASSERT_EQ(f.C_FindObjectsInit(session->handle(), query, 1), CKR_OK);
  CK_OBJECT_HANDLE handle = 0;
  CK_ULONG count = 0;
  ASSERT_EQ(f.C_FindObjects(session->handle(), &handle, 1, &count), CKR_OK);
  ASSERT_EQ(f.C_FindObjectsFinal(session->handle()), CKR_OK);
  ASSERT_EQ(count, 1u);
  unsigned char value[32];
  CK_ATTRIBUTE read[] = {{CKA_VALUE, value, sizeof value}};
  EXPECT_EQ(f.C_GetAttributeValue(session->handle(), handle, read, 1), CKR_ATTRIBUTE_SENSITIVE);

  Bytes plain = ToBytes("thirty-two bytes of master key!!");
  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes sealed, made.Seal(kIv, AsBytes("aad"), plain));
  EXPECT_EQ(sealed.size(), plain.size() + Pkcs11AesKey::kTagSize);
  COFFRE_ASSERT_OK_AND_ASSIGN(crypto::SecretBytes opened, key.Open(kIv, AsBytes("aad"), sealed));
  EXPECT_EQ(AsChars(opened.Reveal()), AsChars(plain));
  EXPECT_THAT(key.Open(kIv, AsBytes("other"), sealed).status(),
              StatusIs(StatusCode::kPermissionDenied, HasSubstr("did not verify")));
  sealed[3] ^= std::byte{1};
  EXPECT_THAT(key.Open(kIv, AsBytes("aad"), sealed).status(),
              StatusIs(StatusCode::kPermissionDenied));
}

TEST(Pkcs11AesKeyTest, FindRefusesAKeyThatCanLeaveTheTokenOrIsAmbiguous) {
  SoftHsmToken token;
  COFFRE_ASSERT_OK_AND_ASSIGN(auto module, Pkcs11Module::Load(testing::kSoftHsmModule));
  COFFRE_ASSERT_OK_AND_ASSIGN(auto session,
                              Pkcs11Session::Open(*module, token.label(), token.Pin()));
  // An AES-256 key made by someone else, extractable.
  CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
  CK_KEY_TYPE aes = CKK_AES;
  CK_ULONG size = 32;
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  char label[] = "loose";
  CK_ATTRIBUTE attrs[] = {{CKA_CLASS, &secret, sizeof secret}, {CKA_KEY_TYPE, &aes, sizeof aes},
                          {CKA_VALUE_LEN, &size, sizeof size},  {CKA_TOKEN, &yes, 1},
                          {CKA_SENSITIVE, &no, 1},              {CKA_EXTRACTABLE, &yes, 1},
                          {CKA_ENCRYPT, &yes, 1},               {CKA_DECRYPT, &yes, 1},
                          {CKA_LABEL, label, 5}};
  CK_MECHANISM gen{CKM_AES_KEY_GEN, nullptr, 0};
  CK_OBJECT_HANDLE handle = 0;
  ASSERT_EQ(session->functions().C_GenerateKey(session->handle(), &gen, attrs, std::size(attrs),
                                               &handle),
            CKR_OK);
  EXPECT_THAT(Pkcs11AesKey::Find(*session, "loose").status(),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("cannot leave the token")));

  COFFRE_ASSERT_OK(Pkcs11AesKey::Generate(*session, "twice").status());
  COFFRE_ASSERT_OK(Pkcs11AesKey::Generate(*session, "twice").status());
  EXPECT_THAT(Pkcs11AesKey::Find(*session, "twice").status(),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("several")));
}

TEST(Pkcs11AesKeyTest, ATokenRemovedUnderAnOpenSessionIsUnavailable) {
  SoftHsmToken token;
  COFFRE_ASSERT_OK_AND_ASSIGN(auto module, Pkcs11Module::Load(testing::kSoftHsmModule));
  COFFRE_ASSERT_OK_AND_ASSIGN(auto session,
                              Pkcs11Session::Open(*module, token.label(), token.Pin()));
  COFFRE_ASSERT_OK_AND_ASSIGN(Pkcs11AesKey key, Pkcs11AesKey::Generate(*session, "k"));
  token.Delete(token.label());
  EXPECT_THAT(key.Seal(kIv, {}, AsBytes("plain")).status(),
              StatusIs(StatusCode::kUnavailable, HasSubstr("was removed")));
  EXPECT_THAT(Pkcs11Session::Open(*module, token.label(), token.Pin()).status(),
              StatusIs(StatusCode::kNotFound, HasSubstr("tokens present: none")));
}

TEST(Pkcs11ErrorTest, RemovedTokenWrongPinAndUnsupportedMechanismAreSpecific) {
  for (CK_RV rv : {CKR_DEVICE_REMOVED, CKR_TOKEN_NOT_PRESENT, CKR_SESSION_HANDLE_INVALID,
                   CKR_KEY_HANDLE_INVALID}) {
    EXPECT_THAT(Pkcs11Error("opening", rv),
                StatusIs(StatusCode::kUnavailable, HasSubstr("was removed (")));
  }
  EXPECT_THAT(Pkcs11Error("login", CKR_PIN_INCORRECT),
              StatusIs(StatusCode::kPermissionDenied, HasSubstr("wrong PIN")));
  EXPECT_THAT(Pkcs11Error("sealing", CKR_MECHANISM_INVALID),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("CKR_MECHANISM_INVALID")));
  EXPECT_EQ(Pkcs11ResultName(0x12345), "CKR 0x12345");
}

}  // namespace
}  // namespace coffre::keys
