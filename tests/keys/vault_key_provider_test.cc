// VaultKeyProvider against a real coffre-vault (in process, over HTTPS on a loopback port),
// holding exactly the permissions a hub gets: get, wrapKey, unwrapKey.
#include "keys/vault_key_provider.h"

#include <gtest/gtest.h>

#include "common/files.h"
#include "crypto/root_key.h"
#include "net/certificates.h"
#include "test_util.h"
#include "vault/service/vault_service.h"

namespace coffre::keys {
namespace {

using crypto::ClassifyKeyAccess;
using crypto::KeyAccess;
using nlohmann::json;
using testing::StatusIs;

class VaultKeyProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto certs = net::EnsureStackCertificates(dir_.path() / "tls", {});
    ASSERT_TRUE(certs.has_value()) << certs.status();
    ca_file_ = certs->ca_file;
    options_.dir = dir_.path() / "vault";
    options_.port = 0;
    options_.tls_cert = certs->cert_file;
    options_.tls_key = certs->key_file;
    options_.passphrase = "a passphrase for tests";
    options_.owner_token_file = dir_.path() / "owner-token";
    options_.threads = 2;
    StartVault();
    std::string owner = *ReadTextFile(options_.owner_token_file);
    owner.pop_back();
    owner_ = std::move(VaultHttpClient::Create(url_, ca_file_, owner).value());
    Call("POST", "/keys/cmk/create", json{{"kty", "RSA"}, {"key_size", 2048}});
    json hub = Call("PUT", "/coffre/principals/hub",
                    json{{"permissions", {{"keys", {"get", "wrapKey", "unwrapKey"}}}}});
    hub_token_ = hub["token"].get<std::string>();
  }

  void StartVault() {
    auto service = vault::VaultService::Start(options_);
    ASSERT_TRUE(service.has_value()) << service.status();
    service_ = std::move(*service);
    if (url_.empty()) url_ = service_->public_url();
    options_.port = service_->port();  // a restart comes back on the same port
  }

  json Call(const std::string& method, const std::string& path, const json& body = nullptr,
            std::string_view query = {}) {
    auto reply = owner_->Call(method, path, body.is_null() ? nullptr : &body, query);
    EXPECT_TRUE(reply.has_value()) << reply.status();
    EXPECT_LT(reply->status, 300u) << reply->body.dump();
    return reply->body;
  }

  std::unique_ptr<VaultKeyProvider> Provider(const std::string& key_uri) {
    VaultKeyProviderOptions options;
    options.key_uri = key_uri;
    options.ca_file = ca_file_;
    options.token = hub_token_;
    auto p = VaultKeyProvider::Create(std::move(options));
    EXPECT_TRUE(p.has_value()) << p.status();
    return std::move(*p);
  }

  testing::TempDir dir_;
  std::filesystem::path ca_file_;
  vault::VaultServiceOptions options_;
  std::unique_ptr<vault::VaultService> service_;
  std::string url_;
  std::unique_ptr<VaultHttpClient> owner_;
  std::string hub_token_;
};

TEST_F(VaultKeyProviderTest, RootKeyRoundTripsThroughTheVault) {
  auto provider = Provider(url_ + "/keys/cmk");
  auto root = std::move(crypto::RootKey::Generate().value());
  COFFRE_ASSERT_OK_AND_ASSIGN(crypto::WrappedKey wrapped, root->WrapWith(*provider));
  EXPECT_EQ(wrapped.algorithm, "RSA-OAEP-256");
  EXPECT_EQ(wrapped.ciphertext.size(), 256u);
  EXPECT_EQ(wrapped.key_id.rfind(url_ + "/keys/cmk/", 0), 0u) << wrapped.key_id;
  COFFRE_ASSERT_OK_AND_ASSIGN(auto again, crypto::RootKey::Unwrap(*provider, wrapped));
  // Same root key: a data key wrapped by one unwraps with the other.
  auto dek = crypto::SecretBytes::Random(32);
  Bytes w = *root->WrapDataKey({1, 1}, *dek);
  EXPECT_TRUE(*again->UnwrapDataKey({1, 1}, w) == *dek);
}

TEST_F(VaultKeyProviderTest, DescribeFollowsTheLatestVersionAndOldWrapsStillUnwrap) {
  auto provider = Provider(url_ + "/keys/cmk");
  auto key = crypto::SecretBytes::Random(32);
  COFFRE_ASSERT_OK_AND_ASSIGN(crypto::WrappedKey before, provider->Wrap(*key));
  COFFRE_ASSERT_OK_AND_ASSIGN(crypto::KeyDescription v1, provider->Describe());
  EXPECT_EQ(v1.id, before.key_id);
  EXPECT_TRUE(v1.enabled());

  Call("POST", "/keys/cmk/rotate");
  COFFRE_ASSERT_OK_AND_ASSIGN(crypto::KeyDescription v2, provider->Describe());
  EXPECT_NE(v2.version, v1.version);
  COFFRE_ASSERT_OK_AND_ASSIGN(crypto::WrappedKey after, provider->Wrap(*key));
  EXPECT_EQ(after.key_id, v2.id);
  EXPECT_TRUE(*provider->Unwrap(before) == *key);
  EXPECT_TRUE(*provider->Unwrap(after) == *key);

  // A pinned URI keeps wrapping with its version.
  auto pinned = Provider(url_ + "/keys/cmk/" + v1.version);
  EXPECT_EQ(pinned->Wrap(*key)->key_id, v1.id);
}

TEST_F(VaultKeyProviderTest, CustomerDecisionsAreRevocationsAndAnOutageIsNot) {
  auto provider = Provider(url_ + "/keys/cmk");
  auto key = crypto::SecretBytes::Random(32);
  COFFRE_ASSERT_OK_AND_ASSIGN(crypto::WrappedKey wrapped, provider->Wrap(*key));
  std::string version = provider->Describe()->version;

  // Disabled.
  Call("PATCH", "/keys/cmk/" + version, json{{"attributes", {{"enabled", false}}}});
  EXPECT_EQ(provider->Describe()->state, crypto::KeyState::kDisabled);
  Status disabled = provider->Unwrap(wrapped).status();
  EXPECT_THAT(disabled, StatusIs(StatusCode::kFailedPrecondition, ::testing::HasSubstr("KeyDisabled")));
  EXPECT_EQ(ClassifyKeyAccess(disabled), KeyAccess::kRevoked);
  Call("PATCH", "/keys/cmk/" + version, json{{"attributes", {{"enabled", true}}}});
  COFFRE_EXPECT_OK(provider->Unwrap(wrapped).status());

  // Expired: the vault still unwraps (Azure's semantics); Describe says expired.
  Call("PATCH", "/keys/cmk/" + version, json{{"attributes", {{"exp", 1000}}}});
  EXPECT_EQ(provider->Describe()->state, crypto::KeyState::kExpired);
  COFFRE_EXPECT_OK(provider->Unwrap(wrapped).status());
  EXPECT_EQ(ClassifyKeyAccess(provider->Wrap(*key).status()), KeyAccess::kRevoked);
  Call("PATCH", "/keys/cmk/" + version, json{{"attributes", {{"exp", nullptr}}}});

  // Access revoked: takes effect on the very next call.
  Call("PUT", "/coffre/principals/hub", json{{"permissions", {{"keys", {"get", "wrapKey"}}}}});
  Status denied = provider->Unwrap(wrapped).status();
  EXPECT_THAT(denied, StatusIs(StatusCode::kPermissionDenied, ::testing::HasSubstr("AccessDenied")));
  EXPECT_EQ(ClassifyKeyAccess(denied), KeyAccess::kRevoked);
  Call("PUT", "/coffre/principals/hub",
       json{{"permissions", {{"keys", {"get", "wrapKey", "unwrapKey"}}}}});
  COFFRE_EXPECT_OK(provider->Unwrap(wrapped).status());

  // Unreachable: the vault stops.
  service_->Stop();
  service_.reset();
  Status down = provider->Unwrap(wrapped).status();
  EXPECT_EQ(ClassifyKeyAccess(down), KeyAccess::kUnreachable) << down;
  StartVault();
  COFFRE_EXPECT_OK(provider->Unwrap(wrapped).status());

  // Deleted.
  Call("DELETE", "/keys/cmk");
  Status deleted = provider->Describe().status();
  EXPECT_THAT(deleted, StatusIs(StatusCode::kNotFound));
  EXPECT_EQ(ClassifyKeyAccess(deleted), KeyAccess::kRevoked);
  EXPECT_EQ(ClassifyKeyAccess(provider->Unwrap(wrapped).status()), KeyAccess::kRevoked);
}

TEST_F(VaultKeyProviderTest, EveryUnwrapFailureIsTheSameErrorAndForeignKidsAreNotSent) {
  auto provider = Provider(url_ + "/keys/cmk");
  auto key = crypto::SecretBytes::Random(32);
  COFFRE_ASSERT_OK_AND_ASSIGN(crypto::WrappedKey wrapped, provider->Wrap(*key));
  crypto::WrappedKey tampered = wrapped;
  tampered.ciphertext[7] ^= std::byte{1};
  EXPECT_EQ(provider->Unwrap(tampered).status(), crypto::OpenFailed());
  crypto::WrappedKey elsewhere = wrapped;
  elsewhere.key_id = "https://evil.example:8443/keys/cmk/" + provider->Describe()->version;
  EXPECT_EQ(provider->Unwrap(elsewhere).status(), crypto::OpenFailed());
  crypto::WrappedKey other_key = wrapped;
  other_key.key_id = url_ + "/keys/other/0123";
  EXPECT_EQ(provider->Unwrap(other_key).status(), crypto::OpenFailed());
}

TEST(KeyUriTest, ParsesVersionlessAndPinnedUrisAndRejectsOthers) {
  KeyUri a = *ParseKeyUri("https://localhost:8443/keys/hub-cmk");
  EXPECT_EQ(a.vault_url, "https://localhost:8443");
  EXPECT_EQ(a.name, "hub-cmk");
  EXPECT_EQ(a.version, "");
  KeyUri b = *ParseKeyUri("https://v.example/keys/k/0123abcd/");
  EXPECT_EQ(b.vault_url, "https://v.example");
  EXPECT_EQ(b.version, "0123abcd");
  for (const char* bad : {"http://v/keys/k", "https://v/secrets/k", "https://v/keys/",
                          "https://v/keys/a_b", "https://v/keys/k/v/x", "https://v"}) {
    EXPECT_FALSE(ParseKeyUri(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace coffre::keys
