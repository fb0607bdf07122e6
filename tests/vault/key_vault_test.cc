#include "vault/keys/key_vault.h"

#include <gtest/gtest.h>

#include "vault_fixture.h"

namespace coffre::vault {
namespace {

using testing::StatusIs;
using testing::StatusWithDetail;
using ::testing::HasSubstr;

CreateKeyRequest Rsa(int bits = 2048) {
  CreateKeyRequest r;
  r.kty = "RSA";
  r.key_size = bits;
  return r;
}

Bytes Dek() { return Bytes(32, std::byte{0x5a}); }

TEST(KeyVaultTest, CreateAddsVersionsAndLatestIsTheNewest) {
  VaultFixture f;
  COFFRE_ASSERT_OK_AND_ASSIGN(KeyVersion v1, f.vault().Create("k", Rsa()));
  COFFRE_ASSERT_OK_AND_ASSIGN(KeyVersion v2, f.vault().Create("k", Rsa()));
  EXPECT_EQ(v1.version.size(), 32u);
  EXPECT_NE(v1.version, v2.version);
  EXPECT_EQ(f.vault().Get("k", "")->version, v2.version);
  EXPECT_EQ(f.vault().Get("k", v1.version)->version, v1.version);
  EXPECT_EQ(f.vault().ListVersions("k")->size(), 2u);
  EXPECT_EQ(v1.n.size(), 256u);
  EXPECT_EQ(HexEncode(v1.e), "010001");
  EXPECT_EQ(v1.key_ops.size(), 6u);
}

TEST(KeyVaultTest, RejectsBadNamesTypesAndSizes) {
  VaultFixture f;
  EXPECT_THAT(f.vault().Create("bad_name", Rsa()).status(), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(f.vault().Create(std::string(128, 'a'), Rsa()).status(),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_TRUE(f.vault().Create(std::string(127, 'a'), Rsa()).has_value());
  EXPECT_THAT(f.vault().Create("k", Rsa(1024)).status(), StatusIs(StatusCode::kInvalidArgument));
  CreateKeyRequest xyz;
  xyz.kty = "XYZ";
  EXPECT_THAT(f.vault().Create("k", xyz).status(), StatusIs(StatusCode::kInvalidArgument));
  CreateKeyRequest bad_ops = Rsa();
  bad_ops.key_ops = std::vector<std::string>{"fly"};
  EXPECT_THAT(f.vault().Create("k", bad_ops).status(), StatusIs(StatusCode::kInvalidArgument));
}

TEST(KeyVaultTest, OldVersionsKeepUnwrappingAfterRotation) {
  VaultFixture f;
  COFFRE_ASSERT_OK_AND_ASSIGN(KeyVersion v1, f.vault().Create("k", Rsa()));
  COFFRE_ASSERT_OK_AND_ASSIGN(auto wrapped, f.vault().Operate("k", "", "wrapKey", "RSA-OAEP-256", Dek()));
  EXPECT_EQ(wrapped.version, v1.version);
  COFFRE_ASSERT_OK_AND_ASSIGN(KeyVersion v2, f.vault().Rotate("k"));
  EXPECT_NE(v2.version, v1.version);
  EXPECT_EQ(v2.key_size, 2048);
  COFFRE_ASSERT_OK_AND_ASSIGN(auto back, f.vault().Operate("k", v1.version, "unwrapKey",
                                                          "RSA-OAEP-256", wrapped.value));
  EXPECT_EQ(back.value, Dek());
  // Versionless unwrap uses the latest version, which did not wrap this blob.
  EXPECT_THAT(f.vault().Operate("k", "", "unwrapKey", "RSA-OAEP-256", wrapped.value).status(),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST(KeyVaultTest, DisabledKeyRefusesEveryCryptoOperationUntilEnabled) {
  VaultFixture f;
  COFFRE_ASSERT_OK_AND_ASSIGN(KeyVersion v, f.vault().Create("k", Rsa()));
  COFFRE_ASSERT_OK_AND_ASSIGN(auto wrapped, f.vault().Operate("k", "", "wrapKey", "RSA-OAEP", Dek()));
  UpdateKeyRequest disable;
  disable.attributes.enabled = false;
  COFFRE_ASSERT_OK(f.vault().Update("k", v.version, disable).status());
  for (const char* op : {"wrapKey", "encrypt"}) {
    EXPECT_THAT(f.vault().Operate("k", "", op, "RSA-OAEP", Dek()).status(),
                StatusWithDetail(StatusCode::kFailedPrecondition, "KeyDisabled"));
  }
  for (const char* op : {"unwrapKey", "decrypt"}) {
    EXPECT_THAT(f.vault().Operate("k", "", op, "RSA-OAEP", wrapped.value).status(),
                StatusWithDetail(StatusCode::kFailedPrecondition, "KeyDisabled"));
  }
  EXPECT_FALSE(f.vault().Get("k", "")->enabled);  // still readable, so it can be re-enabled
  UpdateKeyRequest enable;
  enable.attributes.enabled = true;
  COFFRE_ASSERT_OK(f.vault().Update("k", "", enable).status());
  COFFRE_EXPECT_OK(f.vault().Operate("k", "", "unwrapKey", "RSA-OAEP", wrapped.value).status());
}

TEST(KeyVaultTest, OutsideTheValidityWindowOnlyUnwrapAndDecryptWork) {
  VaultFixture f;
  COFFRE_ASSERT_OK_AND_ASSIGN(KeyVersion v, f.vault().Create("k", Rsa()));
  COFFRE_ASSERT_OK_AND_ASSIGN(auto wrapped, f.vault().Operate("k", "", "wrapKey", "RSA-OAEP-256", Dek()));
  UpdateKeyRequest expire;
  expire.attributes.exp = std::optional<int64_t>(f.now() + 10);
  COFFRE_ASSERT_OK(f.vault().Update("k", "", expire).status());
  COFFRE_EXPECT_OK(f.vault().Operate("k", "", "wrapKey", "RSA-OAEP-256", Dek()).status());
  f.Advance(10);
  EXPECT_THAT(f.vault().Operate("k", "", "wrapKey", "RSA-OAEP-256", Dek()).status(),
              StatusWithDetail(StatusCode::kFailedPrecondition, "KeyExpired"));
  COFFRE_EXPECT_OK(f.vault().Operate("k", "", "unwrapKey", "RSA-OAEP-256", wrapped.value).status());

  UpdateKeyRequest later;
  later.attributes.exp = std::optional<int64_t>();
  later.attributes.nbf = std::optional<int64_t>(f.now() + 100);
  COFFRE_ASSERT_OK(f.vault().Update("k", "", later).status());
  EXPECT_THAT(f.vault().Operate("k", "", "encrypt", "RSA-OAEP-256", Dek()).status(),
              StatusWithDetail(StatusCode::kFailedPrecondition, "KeyNotYetValid"));
  COFFRE_EXPECT_OK(f.vault().Operate("k", "", "decrypt", "RSA-OAEP-256", wrapped.value).status());
}

TEST(KeyVaultTest, OperationsOutsideKeyOpsAreRefused) {
  VaultFixture f;
  CreateKeyRequest r = Rsa();
  r.key_ops = std::vector<std::string>{"unwrapKey"};
  COFFRE_ASSERT_OK(f.vault().Create("k", r).status());
  EXPECT_THAT(f.vault().Operate("k", "", "wrapKey", "RSA-OAEP-256", Dek()).status(),
              StatusWithDetail(StatusCode::kFailedPrecondition, "KeyOperationForbidden"));
}

TEST(KeyVaultTest, EveryUnwrapFailureIsTheSameError) {
  VaultFixture f;
  COFFRE_ASSERT_OK(f.vault().Create("k", Rsa()).status());
  COFFRE_ASSERT_OK(f.vault().Create("other", Rsa()).status());
  COFFRE_ASSERT_OK_AND_ASSIGN(auto wrapped, f.vault().Operate("k", "", "wrapKey", "RSA-OAEP-256", Dek()));
  Bytes tampered = wrapped.value;
  tampered[100] ^= std::byte{1};
  Status a = f.vault().Operate("k", "", "unwrapKey", "RSA-OAEP-256", tampered).status();
  Status b = f.vault().Operate("other", "", "unwrapKey", "RSA-OAEP-256", wrapped.value).status();
  Status c = f.vault().Operate("k", "", "unwrapKey", "RSA-OAEP", wrapped.value).status();
  Status d = f.vault().Operate("k", "", "unwrapKey", "RSA-OAEP-256", Bytes(3)).status();
  EXPECT_THAT(a, StatusIs(StatusCode::kInvalidArgument));
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, c);
  EXPECT_EQ(a, d);
  EXPECT_EQ(a, DecryptFailed());
}

TEST(KeyVaultTest, OctKeysWrapWithTheMatchingAesKeyWrapOnly) {
  VaultFixture f;
  CreateKeyRequest r;
  r.kty = "oct-HSM";
  COFFRE_ASSERT_OK_AND_ASSIGN(KeyVersion v, f.vault().Create("aes", r));
  EXPECT_EQ(v.key_size, 256);
  EXPECT_TRUE(v.n.empty());
  COFFRE_ASSERT_OK_AND_ASSIGN(auto wrapped, f.vault().Operate("aes", "", "wrapKey", "A256KW", Dek()));
  EXPECT_EQ(wrapped.value.size(), 40u);
  EXPECT_EQ(f.vault().Operate("aes", "", "unwrapKey", "A256KW", wrapped.value)->value, Dek());
  EXPECT_THAT(f.vault().Operate("aes", "", "wrapKey", "A128KW", Dek()).status(),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(f.vault().Operate("aes", "", "wrapKey", "RSA-OAEP", Dek()).status(),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST(KeyVaultTest, SoftDeleteHidesReservesRecoversAndPurges) {
  VaultFixture f(VaultSettings{false, 7});
  COFFRE_ASSERT_OK_AND_ASSIGN(KeyVersion v1, f.vault().Create("k", Rsa()));
  COFFRE_ASSERT_OK(f.vault().Rotate("k").status());
  COFFRE_ASSERT_OK_AND_ASSIGN(DeletedKey d, f.vault().Delete("k"));
  EXPECT_EQ(d.scheduled_purge_date - d.deleted_date, 7 * 86400);
  EXPECT_THAT(f.vault().Get("k", "").status(), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(f.vault().Operate("k", v1.version, "wrapKey", "RSA-OAEP", Dek()).status(),
              StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(f.vault().Create("k", Rsa()).status(),
              StatusWithDetail(StatusCode::kAlreadyExists, "ObjectIsDeletedButRecoverable"));
  EXPECT_EQ(f.vault().ListDeleted()->size(), 1u);
  EXPECT_TRUE(f.vault().ListLatest()->empty());
  COFFRE_ASSERT_OK(f.vault().Recover("k").status());
  EXPECT_EQ(f.vault().ListVersions("k")->size(), 2u);
  EXPECT_EQ(f.vault().Get("k", v1.version)->version, v1.version);
  COFFRE_ASSERT_OK(f.vault().Delete("k").status());
  COFFRE_ASSERT_OK(f.vault().Purge("k"));
  EXPECT_THAT(f.vault().GetDeleted("k").status(), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(f.vault().Recover("k").status(), StatusIs(StatusCode::kNotFound));
  COFFRE_EXPECT_OK(f.vault().Create("k", Rsa()).status());  // the name is free again
}

TEST(KeyVaultTest, PurgeProtectionRefusesPurgeUntilRetentionEndsThenPurgesByItself) {
  VaultFixture f(VaultSettings{true, 7});
  COFFRE_ASSERT_OK(f.vault().Create("k", Rsa()).status());
  COFFRE_ASSERT_OK(f.vault().Delete("k").status());
  EXPECT_THAT(f.vault().Purge("k"), StatusWithDetail(StatusCode::kPermissionDenied, "PurgeProtected"));
  f.Advance(7 * 86400 - 1);
  EXPECT_THAT(f.vault().Purge("k"), StatusIs(StatusCode::kPermissionDenied));
  COFFRE_EXPECT_OK(f.vault().GetDeleted("k").status());
  f.Advance(1);
  // At the scheduled purge date the vault purges on its own.
  EXPECT_THAT(f.vault().GetDeleted("k").status(), StatusIs(StatusCode::kNotFound));
  EXPECT_TRUE(f.vault().ListDeleted()->empty());
}

TEST(KeyVaultTest, StateSurvivesReopening) {
  VaultFixture f;
  COFFRE_ASSERT_OK_AND_ASSIGN(KeyVersion v, f.vault().Create("k", Rsa()));
  COFFRE_ASSERT_OK_AND_ASSIGN(auto wrapped, f.vault().Operate("k", "", "wrapKey", "RSA-OAEP-256", Dek()));
  f.Open();
  EXPECT_EQ(f.vault().Get("k", "")->version, v.version);
  EXPECT_EQ(f.vault().Operate("k", "", "unwrapKey", "RSA-OAEP-256", wrapped.value)->value, Dek());
}

}  // namespace
}  // namespace coffre::vault
