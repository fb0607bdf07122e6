#include "vault/api/access_control.h"

#include <gtest/gtest.h>

#include "vault_fixture.h"

namespace coffre::vault {
namespace {

using testing::StatusIs;

TEST(AccessControlTest, TokensAuthenticateAndRevocationTakesEffectAtOnce) {
  VaultFixture f;
  COFFRE_ASSERT_OK_AND_ASSIGN(auto created,
                              f.access().SetPrincipal("hub", {"get", "wrapKey", "unwrapKey"}, false, false));
  ASSERT_TRUE(created.token.has_value());
  COFFRE_ASSERT_OK_AND_ASSIGN(Principal p, f.access().Authenticate(*created.token));
  EXPECT_TRUE(p.Can("unwrapKey"));
  EXPECT_FALSE(p.Can("create"));
  EXPECT_FALSE(p.admin);

  COFFRE_ASSERT_OK_AND_ASSIGN(auto updated, f.access().SetPrincipal("hub", {"get", "wrapKey"}, false, false));
  EXPECT_FALSE(updated.token.has_value());
  EXPECT_FALSE(f.access().Authenticate(*created.token)->Can("unwrapKey"));

  COFFRE_ASSERT_OK_AND_ASSIGN(auto rotated, f.access().SetPrincipal("hub", {"get"}, false, true));
  ASSERT_TRUE(rotated.token.has_value());
  EXPECT_THAT(f.access().Authenticate(*created.token).status(),
              StatusIs(StatusCode::kUnauthenticated));
  COFFRE_EXPECT_OK(f.access().Authenticate(*rotated.token).status());

  COFFRE_ASSERT_OK(f.access().DeletePrincipal("hub"));
  EXPECT_THAT(f.access().Authenticate(*rotated.token).status(),
              StatusIs(StatusCode::kUnauthenticated));
}

TEST(AccessControlTest, UnknownTokensAndNamesAreRefused) {
  VaultFixture f;
  EXPECT_THAT(f.access().Authenticate("").status(), StatusIs(StatusCode::kUnauthenticated));
  EXPECT_THAT(f.access().Authenticate("cvt1.nope").status(), StatusIs(StatusCode::kUnauthenticated));
  EXPECT_THAT(f.access().SetPrincipal("bad/name", {}, false, false).status(),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(f.access().DeletePrincipal("ghost"), StatusIs(StatusCode::kNotFound));
}

TEST(AccessControlTest, PermissionNamesAreAzureSpellingsCaseInsensitive) {
  EXPECT_EQ(*CanonicalPermission("WRAPKEY"), "wrapKey");
  EXPECT_EQ(*CanonicalPermission("getrotationpolicy"), "getrotationpolicy");
  EXPECT_THAT(CanonicalPermission("fly").status(), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_EQ(AllKeyPermissions().size(), 20u);
}

}  // namespace
}  // namespace coffre::vault

namespace coffre::vault {
namespace {

TEST(AccessControlTest, AdminIsKeptUnlessSetExplicitly) {
  VaultFixture f;
  COFFRE_ASSERT_OK(f.access().SetPrincipal("ops", {"get"}, true, false).status());
  COFFRE_ASSERT_OK_AND_ASSIGN(auto kept, f.access().SetPrincipal("ops", {"list"}, std::nullopt, false));
  EXPECT_TRUE(kept.principal.admin);
  COFFRE_ASSERT_OK_AND_ASSIGN(auto demoted, f.access().SetPrincipal("ops", {"list"}, false, false));
  EXPECT_FALSE(demoted.principal.admin);
}

}  // namespace
}  // namespace coffre::vault

namespace coffre::vault {
namespace {

TEST(AccessControlTest, TokensIssuedWithATimeToLiveExpire) {
  VaultFixture f;
  COFFRE_ASSERT_OK_AND_ASSIGN(PrincipalUpdate p,
                              f.access().SetPrincipal("ci", {"get"}, std::nullopt, false, 60));
  const std::string token = p.token.value_or("");
  COFFRE_EXPECT_OK(f.access().Authenticate(token).status());
  f.Advance(59);
  COFFRE_EXPECT_OK(f.access().Authenticate(token).status());
  f.Advance(1);
  EXPECT_THAT(f.access().Authenticate(token).status(),
              testing::StatusIs(StatusCode::kUnauthenticated, ::testing::HasSubstr("expired")));
  // A new token without a time to live does not expire.
  COFFRE_ASSERT_OK_AND_ASSIGN(PrincipalUpdate again,
                              f.access().SetPrincipal("ci", {"get"}, std::nullopt, true));
  const std::string fresh = again.token.value_or("");
  f.Advance(100 * 365 * 86400LL);
  COFFRE_EXPECT_OK(f.access().Authenticate(fresh).status());
}

}  // namespace
}  // namespace coffre::vault
