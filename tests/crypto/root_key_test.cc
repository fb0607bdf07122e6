#include "crypto/root_key.h"

#include <gtest/gtest.h>

#include "fakes/fake_key_provider.h"
#include "test_util.h"

namespace coffre::crypto {
namespace {

using testing::FakeKeyProvider;
using testing::StatusIs;

TEST(RootKeyTest, WrappedRootKeyUnwrapsToTheSameKey) {
  FakeKeyProvider provider;
  auto root = std::move(RootKey::Generate().value());
  COFFRE_ASSERT_OK_AND_ASSIGN(WrappedKey wrapped, root->WrapWith(provider));
  EXPECT_EQ(wrapped.key_id, FakeKeyProvider::kId);
  COFFRE_ASSERT_OK_AND_ASSIGN(auto again, RootKey::Unwrap(provider, wrapped));

  // The same root key: a data key wrapped by one unwraps with the other.
  auto dek = SecretBytes::Random(32);
  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes w, root->WrapDataKey({1, 1}, *dek));
  COFFRE_ASSERT_OK_AND_ASSIGN(SecretBytes back, again->UnwrapDataKey({1, 1}, w));
  EXPECT_TRUE(back == *dek);
}

TEST(RootKeyTest, WrappedDataKeyIsBoundToItsScopeAndEpoch) {
  auto root = std::move(RootKey::Generate().value());
  auto dek = SecretBytes::Random(32);
  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes w, root->WrapDataKey({3, 9}, *dek));
  EXPECT_EQ(root->UnwrapDataKey({3, 10}, w).status(), OpenFailed());
  EXPECT_EQ(root->UnwrapDataKey({4, 9}, w).status(), OpenFailed());
  Bytes bad = w;
  bad[30] ^= std::byte{1};
  EXPECT_EQ(root->UnwrapDataKey({3, 9}, bad).status(), OpenFailed());
}

TEST(RootKeyTest, ProviderRefusalsAreClassifiedAsRevocationOrOutage) {
  FakeKeyProvider provider;
  auto root = std::move(RootKey::Generate().value());
  COFFRE_ASSERT_OK_AND_ASSIGN(WrappedKey wrapped, root->WrapWith(provider));

  provider.set_state(KeyState::kDisabled);
  Status disabled = RootKey::Unwrap(provider, wrapped).status();
  EXPECT_THAT(disabled, StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_EQ(ClassifyKeyAccess(disabled), KeyAccess::kRevoked);

  provider.set_state(KeyState::kDeleted);
  EXPECT_EQ(ClassifyKeyAccess(RootKey::Unwrap(provider, wrapped).status()), KeyAccess::kRevoked);

  provider.set_state(KeyState::kEnabled);
  provider.set_mode(FakeKeyProvider::Mode::kDenied);
  EXPECT_EQ(ClassifyKeyAccess(RootKey::Unwrap(provider, wrapped).status()), KeyAccess::kRevoked);

  provider.set_mode(FakeKeyProvider::Mode::kUnreachable);
  EXPECT_EQ(ClassifyKeyAccess(RootKey::Unwrap(provider, wrapped).status()),
            KeyAccess::kUnreachable);

  provider.set_mode(FakeKeyProvider::Mode::kNormal);
  EXPECT_EQ(ClassifyKeyAccess(RootKey::Unwrap(provider, wrapped).status()), KeyAccess::kGranted);
}

TEST(RootKeyTest, TamperedWrappedRootKeyFailsWithTheOneUnwrapError) {
  FakeKeyProvider provider;
  auto root = std::move(RootKey::Generate().value());
  COFFRE_ASSERT_OK_AND_ASSIGN(WrappedKey wrapped, root->WrapWith(provider));
  wrapped.ciphertext[20] ^= std::byte{1};
  EXPECT_EQ(RootKey::Unwrap(provider, wrapped).status(), OpenFailed());
}

TEST(WrappedKeyTest, SerializationRoundTripsAndRejectsMalformedJson) {
  WrappedKey w{"https://v/keys/k/1", "RSA-OAEP-256", {std::byte{1}, std::byte{0xff}}};
  std::string json = SerializeWrappedKey(w);
  COFFRE_ASSERT_OK_AND_ASSIGN(WrappedKey back, ParseWrappedKey(json));
  EXPECT_EQ(back, w);
  for (std::string_view bad : {"", "[]", "{}", R"({"kid":1,"alg":"a","value":"AQ"})",
                               R"({"kid":"k","alg":"a","value":"!!"})", "{\"kid\""}) {
    EXPECT_THAT(ParseWrappedKey(bad).status(), StatusIs(StatusCode::kInvalidArgument)) << bad;
  }
}

}  // namespace
}  // namespace coffre::crypto

namespace coffre::crypto {
namespace {

TEST(RootKeyTest, DerivedKeysAreStablePerLabelAndIndependentAcrossLabels) {
  auto root = std::move(RootKey::Generate().value());
  auto a1 = root->DeriveKey("registry-ids");
  auto a2 = root->DeriveKey("registry-ids");
  auto b = root->DeriveKey("twins");
  ASSERT_TRUE(a1.has_value() && a2.has_value() && b.has_value());
  EXPECT_EQ(a1->size(), 32u);
  EXPECT_TRUE(*a1 == *a2);
  EXPECT_FALSE(*a1 == *b);
  auto other = std::move(RootKey::Generate().value());
  EXPECT_FALSE(*other->DeriveKey("registry-ids") == *a1);
}

}  // namespace
}  // namespace coffre::crypto
