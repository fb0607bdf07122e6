// KeyVault's rotation-policy records: key_vault_policy.cc and the policy's part in Rotate.
#include <gtest/gtest.h>

#include "vault/keys/key_vault.h"
#include "vault_fixture.h"

namespace coffre::vault {
namespace {

using nlohmann::json;
using testing::StatusIs;

constexpr int64_t kDay = 86400;

CreateKeyRequest Oct() {
  CreateKeyRequest r;
  r.kty = "oct-HSM";
  r.key_size = 256;
  return r;
}

RotationPolicy ExpiresIn(const char* duration) {
  return ParseRotationPolicyUpdate(json{{"attributes", {{"expiryTime", duration}}}}).value();
}

TEST(KeyVaultPolicyTest, AnswersTheDefaultUntilSetThenKeepsTheFirstCreated) {
  VaultFixture f;
  COFFRE_ASSERT_OK(f.vault().Create("k", Oct()).status());
  COFFRE_ASSERT_OK_AND_ASSIGN(RotationPolicy initial, f.vault().GetRotationPolicy("k"));
  EXPECT_EQ(RotationPolicyToRecord(initial), RotationPolicyToRecord(RotationPolicy::Default()));
  EXPECT_FALSE(initial.created.has_value());

  int64_t first = f.now();
  COFFRE_ASSERT_OK(f.vault().SetRotationPolicy("k", ExpiresIn("P1Y")).status());
  f.Advance(60);
  COFFRE_ASSERT_OK_AND_ASSIGN(RotationPolicy second,
                              f.vault().SetRotationPolicy("k", ExpiresIn("P2Y")));
  EXPECT_EQ(second.created, first);
  EXPECT_EQ(second.updated, first + 60);
  f.Open();  // sealed in the store
  COFFRE_ASSERT_OK_AND_ASSIGN(RotationPolicy stored, f.vault().GetRotationPolicy("k"));
  EXPECT_EQ(RotationPolicyToRecord(stored), RotationPolicyToRecord(second));
  EXPECT_THAT(f.vault().GetRotationPolicy("nope").status(), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(f.vault().SetRotationPolicy("nope", ExpiresIn("P1Y")).status(),
              StatusIs(StatusCode::kNotFound));
}

TEST(KeyVaultPolicyTest, RotateGivesOnlyTheNewVersionThePolicysExpiry) {
  VaultFixture f;
  COFFRE_ASSERT_OK_AND_ASSIGN(KeyVersion v1, f.vault().Create("k", Oct()));
  COFFRE_ASSERT_OK_AND_ASSIGN(KeyVersion plain, f.vault().Rotate("k"));
  EXPECT_FALSE(plain.exp.has_value());  // no expiryTime, no exp
  COFFRE_ASSERT_OK(f.vault().SetRotationPolicy("k", ExpiresIn("P90D")).status());
  f.Advance(5);
  COFFRE_ASSERT_OK_AND_ASSIGN(KeyVersion v3, f.vault().Rotate("k"));
  EXPECT_EQ(v3.exp, f.now() + 90 * kDay);
  EXPECT_FALSE(f.vault().Get("k", v1.version)->exp.has_value());
  EXPECT_FALSE(f.vault().Get("k", plain.version)->exp.has_value());
}

TEST(KeyVaultPolicyTest, FollowsTheKeyThroughDeleteAndRecoverAndGoesWithAPurge) {
  VaultFixture f;  // no purge protection
  COFFRE_ASSERT_OK(f.vault().Create("k", Oct()).status());
  COFFRE_ASSERT_OK(f.vault().SetRotationPolicy("k", ExpiresIn("P1Y")).status());
  COFFRE_ASSERT_OK(f.vault().MarkPublished("k", "Some.Event", "v").status());
  COFFRE_ASSERT_OK(f.vault().Delete("k").status());
  EXPECT_THAT(f.vault().GetRotationPolicy("k").status(), StatusIs(StatusCode::kNotFound));
  EXPECT_TRUE(f.vault().ListPolicyStates()->empty());
  COFFRE_ASSERT_OK(f.vault().Recover("k").status());
  EXPECT_EQ(f.vault().GetRotationPolicy("k")->expiry_time->text, "P1Y");
  EXPECT_EQ(f.vault().ListPolicyStates()->at(0).published.at("Some.Event"), "v");

  COFFRE_ASSERT_OK(f.vault().Delete("k").status());
  COFFRE_ASSERT_OK(f.vault().Purge("k"));
  COFFRE_ASSERT_OK(f.vault().Create("k", Oct()).status());
  COFFRE_ASSERT_OK_AND_ASSIGN(RotationPolicy fresh, f.vault().GetRotationPolicy("k"));
  EXPECT_FALSE(fresh.expiry_time.has_value());
  EXPECT_FALSE(fresh.created.has_value());
  EXPECT_TRUE(f.vault().ListPolicyStates()->at(0).published.empty());
}

TEST(KeyVaultPolicyTest, MarkPublishedIsTrueOncePerVersion) {
  VaultFixture f;
  COFFRE_ASSERT_OK(f.vault().Create("k", Oct()).status());
  EXPECT_TRUE(*f.vault().MarkPublished("k", "A", "v1"));
  EXPECT_FALSE(*f.vault().MarkPublished("k", "A", "v1"));
  EXPECT_TRUE(*f.vault().MarkPublished("k", "B", "v1"));
  EXPECT_TRUE(*f.vault().MarkPublished("k", "A", "v2"));
  f.Open();
  EXPECT_FALSE(*f.vault().MarkPublished("k", "A", "v2"));
  EXPECT_THAT(f.vault().MarkPublished("nope", "A", "v1").status(), StatusIs(StatusCode::kNotFound));
}

}  // namespace
}  // namespace coffre::vault
