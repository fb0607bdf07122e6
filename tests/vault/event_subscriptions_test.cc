#include "vault/events/event_subscriptions.h"

#include <gtest/gtest.h>

#include "file_scan.h"
#include "vault_fixture.h"
#include "vault/webhook_receiver.h"

namespace coffre::vault {
namespace {

using testing::FilesContaining;
using testing::StatusIs;

class EventSubscriptionsTest : public ::testing::Test {
 protected:
  std::unique_ptr<EventSubscriptions> Open() {
    return std::move(EventSubscriptions::Open(f_.store(), f_.clock()).value());
  }
  VaultFixture f_;
};

TEST_F(EventSubscriptionsTest, CreateReturnsTheSecretOnceAndKeepsItSealedAcrossRestarts) {
  auto subs = Open();
  auto created = subs->Create("https://hub.example:8443/$coffre/keyevents", {"keydisabled",
                              "Microsoft.KeyVault.KeyNewVersionCreated", "KeyDisabled"}, "");
  ASSERT_TRUE(created.has_value()) << created.status();
  const EventSubscription& s = created->subscription;
  EXPECT_EQ(s.id.size(), 36u);
  EXPECT_EQ(s.created, f_.now());
  EXPECT_EQ(s.event_types, (std::vector<std::string>{"Coffre.KeyVault.KeyDisabled",
                                                     "Microsoft.KeyVault.KeyNewVersionCreated"}));
  std::string secret(AsChars(created->secret.Reveal()));
  EXPECT_EQ(secret.substr(0, 5), "cwh1.");
  EXPECT_EQ(secret.size(), 5u + 43u);
  EXPECT_TRUE(s.Wants("Coffre.KeyVault.KeyDisabled"));
  EXPECT_FALSE(s.Wants("Coffre.KeyVault.KeyEnabled"));
  EXPECT_EQ(subs->Matching("Coffre.KeyVault.KeyDisabled"), std::vector<std::string>{s.id});
  EXPECT_TRUE(subs->Matching("Coffre.KeyVault.KeyEnabled").empty());

  COFFRE_ASSERT_OK(f_.kv().DestroyDeletedData());  // flushed to table files too
  EXPECT_TRUE(FilesContaining(f_.dir(), AsBytes(secret)).empty()) << "the secret is sealed";
  f_.Open();  // a restart
  subs = Open();
  ASSERT_EQ(subs->List().size(), 1u);
  EXPECT_EQ(subs->List()[0].endpoint, "https://hub.example:8443/$coffre/keyevents");
  auto live = subs->Find(s.id);
  ASSERT_TRUE(live.has_value());
  EXPECT_EQ(AsChars(live->secret->Reveal()), secret);

  COFFRE_ASSERT_OK(subs->Delete(s.id));
  EXPECT_FALSE(subs->Find(s.id).has_value());
  EXPECT_THAT(subs->Delete(s.id), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(subs->Get(s.id).status(), StatusIs(StatusCode::kNotFound));
  f_.Open();
  EXPECT_TRUE(Open()->List().empty());
}

TEST_F(EventSubscriptionsTest, CreateRefusesBadEndpointsTypesAndCertificates) {
  auto subs = Open();
  std::vector<std::string> endpoints = {"http://hub/x", "hub/x", "https://", "https://user@hub/x",
                                        "https://hub/x#frag", "https://hub:0/x",
                                        "https://hub:99999/x", "https://hub/a b",
                                        "https://" + std::string(2100, 'a')};
  for (const std::string& endpoint : endpoints) {
    EXPECT_THAT(subs->Create(endpoint, {}, "").status(), StatusIs(StatusCode::kInvalidArgument))
        << endpoint;
  }
  EXPECT_THAT(subs->Create("https://hub/x", {"KeyRenamed"}, "").status(),
              StatusIs(StatusCode::kInvalidArgument, ::testing::HasSubstr("KeyRenamed")));
  EXPECT_THAT(subs->Create("https://hub/x", {}, "not a certificate").status(),
              StatusIs(StatusCode::kInvalidArgument, ::testing::HasSubstr("caPem")));
  testing::WebhookReceiver receiver;
  COFFRE_EXPECT_OK(subs->Create("https://hub/x", {}, receiver.ca_pem()).status());
  for (size_t i = 1; i < EventSubscriptions::kMaxSubscriptions; ++i) {
    COFFRE_ASSERT_OK(subs->Create("https://hub/x", {}, "").status());
  }
  EXPECT_THAT(subs->Create("https://hub/x", {}, "").status(),
              StatusIs(StatusCode::kResourceExhausted));
  EXPECT_TRUE(subs->List().size() == EventSubscriptions::kMaxSubscriptions);
}

TEST(WebhookEndpointTest, SplitsOriginAndTarget) {
  auto e = ParseWebhookEndpoint("https://localhost:9443/$coffre/keyevents?a=1").value();
  EXPECT_EQ(e.origin.host, "localhost");
  EXPECT_EQ(e.origin.port, 9443);
  EXPECT_EQ(e.target, "/$coffre/keyevents?a=1");
  EXPECT_EQ(ParseWebhookEndpoint("https://hub.example").value().target, "/");
  EXPECT_EQ(ParseWebhookEndpoint("https://hub.example").value().origin.port, 443);
  EXPECT_EQ(ParseWebhookEndpoint("https://hub.example?x").value().target, "/?x");
  EXPECT_EQ(ParseWebhookEndpoint("https://[::1]:8443/h").value().origin.host, "::1");
}

}  // namespace
}  // namespace coffre::vault
