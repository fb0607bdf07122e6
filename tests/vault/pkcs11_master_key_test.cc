// The vault master key sealed by a key on a SoftHSM2 token the test starts (softhsm_token.h).
#include "vault/seal/pkcs11_master_key.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/files.h"
#include "file_scan.h"
#include "softhsm_token.h"
#include "test_util.h"
#include "vault/seal/master_key.h"
#include "vault/seal/master_key_file.h"
#include "vault/seal/master_lineage.h"

namespace coffre::vault {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using testing::FilesContaining;
using testing::SoftHsmToken;
using testing::StatusIs;

class Pkcs11MasterKeyTest : public ::testing::Test {
 protected:
  Pkcs11MasterKeyOptions Options(const std::string& pin) const {
    Pkcs11MasterKeyOptions o;
    o.module = testing::kSoftHsmModule;
    o.token_label = token_.label();
    o.pin = token_.Pin(pin);
    return o;
  }
  Pkcs11MasterKeyOptions Options() const { return Options(token_.pin()); }

  SoftHsmToken token_;
  testing::TempDir dir_;
  std::filesystem::path path_ = dir_.path() / "master.json";
};

TEST_F(Pkcs11MasterKeyTest, SealsByTheTokensKeyAndUnsealsWithItOnly) {
  COFFRE_ASSERT_OK_AND_ASSIGN(auto master, CreatePkcs11MasterKeyFile(path_, Options()));
  Pkcs11MasterKeyOptions by_file;  // token and key labels from master.json
  by_file.module = testing::kSoftHsmModule;
  by_file.pin = token_.Pin();
  COFFRE_ASSERT_OK_AND_ASSIGN(auto again, UnsealPkcs11MasterKey(path_, by_file));
  EXPECT_TRUE(master == again);

  COFFRE_ASSERT_OK_AND_ASSIGN(MasterKeySealing sealing, ReadMasterKeySealing(path_));
  EXPECT_EQ(sealing.kdf, "pkcs11");
  EXPECT_EQ(sealing.token_label, "coffre-test");
  EXPECT_EQ(sealing.key_label, "coffre-vault-master");
  EXPECT_EQ(sealing.mechanism, "CKM_AES_GCM");
  COFFRE_ASSERT_OK_AND_ASSIGN(std::string lineage, MasterKeyLineage(master));
  EXPECT_EQ(sealing.lineage, lineage);
  EXPECT_EQ(lineage.size(), 32u);
  // Neither master.json nor the token's own files hold the master key in any form.
  EXPECT_THAT(FilesContaining(dir_.path(), master.Reveal()), IsEmpty());
  EXPECT_THAT(FilesContaining(token_.token_dir(), master.Reveal()), IsEmpty());
  EXPECT_THAT(CreatePkcs11MasterKeyFile(path_, Options()).status(),
              StatusIs(StatusCode::kAlreadyExists));
}

TEST_F(Pkcs11MasterKeyTest, ReusesAKeyAlreadyOnTheTokenUnderTheLabel) {
  COFFRE_ASSERT_OK_AND_ASSIGN(auto first, CreatePkcs11MasterKeyFile(path_, Options()));
  auto second_path = dir_.path() / "second.json";
  COFFRE_ASSERT_OK_AND_ASSIGN(auto second, CreatePkcs11MasterKeyFile(second_path, Options()));
  EXPECT_FALSE(first == second);  // a new master key, sealed by the same token key
  COFFRE_EXPECT_OK(UnsealPkcs11MasterKey(path_, Options()).status());
  COFFRE_EXPECT_OK(UnsealPkcs11MasterKey(second_path, Options()).status());
}

TEST_F(Pkcs11MasterKeyTest, WrongPinIsPermissionDeniedAndTheMessageHoldsNoPin) {
  COFFRE_ASSERT_OK(CreatePkcs11MasterKeyFile(path_, Options()).status());
  Status s = UnsealPkcs11MasterKey(path_, Options("7777-not-the-pin")).status();
  EXPECT_THAT(s, StatusIs(StatusCode::kPermissionDenied, HasSubstr("CKR_PIN_INCORRECT")));
  EXPECT_THAT(s.message(), Not(HasSubstr("7777")));
  EXPECT_THAT(s.message(), Not(HasSubstr(token_.pin())));
}

TEST_F(Pkcs11MasterKeyTest, MissingKeyOrTokenAndAnotherKeyUnderTheLabelAreClearErrors) {
  COFFRE_ASSERT_OK(CreatePkcs11MasterKeyFile(path_, Options()).status());
  // The token replaced by a new one of the same label: the key is gone.
  token_.Delete(token_.label());
  token_.Init(token_.label());
  EXPECT_THAT(UnsealPkcs11MasterKey(path_, Options()).status(),
              StatusIs(StatusCode::kNotFound,
                       HasSubstr("key 'coffre-vault-master' on PKCS#11 token 'coffre-test' is "
                                 "missing")));
  // A new key under the same label cannot open the file.
  COFFRE_ASSERT_OK(CreatePkcs11MasterKeyFile(dir_.path() / "other.json", Options()).status());
  EXPECT_THAT(UnsealPkcs11MasterKey(path_, Options()).status(),
              StatusIs(StatusCode::kPermissionDenied, HasSubstr("does not open")));
  // No token at all.
  token_.Delete(token_.label());
  EXPECT_THAT(UnsealPkcs11MasterKey(path_, Options()).status(),
              StatusIs(StatusCode::kNotFound,
                       HasSubstr("no PKCS#11 token labelled 'coffre-test'")));
}

TEST_F(Pkcs11MasterKeyTest, ModuleThatCannotLoadIsAClearError) {
  Pkcs11MasterKeyOptions o = Options();
  o.module = dir_.path() / "no-such-module.so";
  EXPECT_THAT(CreatePkcs11MasterKeyFile(path_, o).status(),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("cannot load PKCS#11 module")));
  EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST_F(Pkcs11MasterKeyTest, TheWrongMethodOrAnotherTokenOrKeyIsNamed) {
  COFFRE_ASSERT_OK(CreatePkcs11MasterKeyFile(path_, Options()).status());
  EXPECT_THAT(UnsealMasterKey(path_, "some passphrase").status(),
              StatusIs(StatusCode::kFailedPrecondition,
                       HasSubstr("sealed by the key 'coffre-vault-master' on the PKCS#11 token "
                                 "'coffre-test', not by a passphrase")));
  Pkcs11MasterKeyOptions other = Options();
  other.token_label = "another";
  EXPECT_THAT(UnsealPkcs11MasterKey(path_, other).status(),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("not 'another'")));
  other = Options();
  other.key_label = "another-key";
  EXPECT_THAT(UnsealPkcs11MasterKey(path_, other).status(),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("not 'another-key'")));

  auto pass_path = dir_.path() / "pass.json";
  COFFRE_ASSERT_OK(CreateMasterKeyFile(pass_path, "a long passphrase").status());
  EXPECT_THAT(UnsealPkcs11MasterKey(pass_path, Options()).status(),
              StatusIs(StatusCode::kFailedPrecondition,
                       HasSubstr("sealed by a passphrase (argon2id), not by a PKCS#11 token")));
}

TEST_F(Pkcs11MasterKeyTest, AnEditedLineageOrMechanismIsRefused) {
  COFFRE_ASSERT_OK(CreatePkcs11MasterKeyFile(path_, Options()).status());
  std::string original = *ReadTextFile(path_);
  auto edit = [&](const char* field, const char* value) {
    nlohmann::json j = nlohmann::json::parse(original);
    j[field] = value;
    std::string text = j.dump();
    ASSERT_TRUE(WriteFileDurably(path_, AsBytes(text), 0600).ok());
  };
  edit("lineage", "00000000000000000000000000000000");
  EXPECT_THAT(UnsealPkcs11MasterKey(path_, Options()).status(),
              StatusIs(StatusCode::kDataLoss, HasSubstr("the file was edited")));
  edit("mechanism", "CKM_AES_KEY_WRAP_PAD");
  EXPECT_THAT(UnsealPkcs11MasterKey(path_, Options()).status(),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("CKM_AES_KEY_WRAP_PAD")));
  edit("iv", "AAAA");
  EXPECT_THAT(UnsealPkcs11MasterKey(path_, Options()).status(), StatusIs(StatusCode::kDataLoss));
}

TEST(MasterKeyLineageTest, IsStableAndDiffersBetweenKeys) {
  COFFRE_ASSERT_OK_AND_ASSIGN(auto a, crypto::SecretBytes::Random(32));
  COFFRE_ASSERT_OK_AND_ASSIGN(auto b, crypto::SecretBytes::Random(32));
  COFFRE_ASSERT_OK_AND_ASSIGN(auto a_copy, a.Clone());
  EXPECT_EQ(*MasterKeyLineage(a), *MasterKeyLineage(a_copy));
  EXPECT_NE(*MasterKeyLineage(a), *MasterKeyLineage(b));
  // Not the key, nor a prefix of it.
  EXPECT_EQ(MasterKeyLineage(a)->find(HexEncode(a.Reveal().first(4))), std::string::npos);
}

}  // namespace
}  // namespace coffre::vault
