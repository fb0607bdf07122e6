// What KeyVault and AccessControl publish, change by change.
#include <gtest/gtest.h>

#include <mutex>

#include "vault/vault_fixture.h"

namespace coffre::vault {
namespace {

// Records what is published. Thread-safe.
class RecordingSink : public KeyEventSink {
 public:
  void Publish(const KeyEvent& event) override {
    std::lock_guard<std::mutex> guard(mu_);
    events_.push_back(event);
  }
  std::vector<KeyEvent> Take() {
    std::lock_guard<std::mutex> guard(mu_);
    return std::exchange(events_, {});
  }

 private:
  std::mutex mu_;
  std::vector<KeyEvent> events_;
};

class KeyEventsTest : public ::testing::Test {
 protected:
  CreateKeyRequest Oct() {
    CreateKeyRequest r;
    r.kty = "oct-HSM";
    return r;
  }
  // The one event published since the last call.
  KeyEvent One() {
    std::vector<KeyEvent> events = sink_.Take();
    EXPECT_EQ(events.size(), 1u);
    return events.empty() ? KeyEvent{} : events[0];
  }

  RecordingSink sink_;
  VaultFixture f_{VaultSettings{}, &sink_};
};

TEST_F(KeyEventsTest, EachLifecycleChangeIsPublishedOnceWithTheKeyAndVersion) {
  CreateKeyRequest request = Oct();
  request.attributes.exp = std::optional<int64_t>(f_.now() + 1000);
  KeyVersion v1 = f_.vault().Create("k1", request).value();
  KeyEvent e = One();
  EXPECT_EQ(e.type, event_type::kKeyNewVersionCreated);
  EXPECT_EQ(e.object_name, "k1");
  EXPECT_EQ(e.version, v1.version);
  EXPECT_EQ(e.exp, f_.now() + 1000);
  EXPECT_EQ(e.nbf, std::nullopt);
  EXPECT_EQ(e.time, f_.now());

  KeyVersion v2 = f_.vault().Rotate("k1").value();
  e = One();
  EXPECT_EQ(e.type, event_type::kKeyNewVersionCreated);
  EXPECT_EQ(e.version, v2.version);

  UpdateKeyRequest disable;
  disable.attributes.enabled = false;
  ASSERT_TRUE(f_.vault().Update("k1", v1.version, disable).has_value());
  e = One();
  EXPECT_EQ(e.type, event_type::kKeyDisabled) << "an older version counts too";
  EXPECT_EQ(e.version, v1.version);
  ASSERT_TRUE(f_.vault().Update("k1", v1.version, disable).has_value());
  EXPECT_TRUE(sink_.Take().empty()) << "no flip, no event";
  UpdateKeyRequest tags;
  tags.tags = nlohmann::json{{"a", "b"}};
  ASSERT_TRUE(f_.vault().Update("k1", "", tags).has_value());
  EXPECT_TRUE(sink_.Take().empty());
  UpdateKeyRequest enable;
  enable.attributes.enabled = true;
  ASSERT_TRUE(f_.vault().Update("k1", v1.version, enable).has_value());
  EXPECT_EQ(One().type, event_type::kKeyEnabled);

  ASSERT_TRUE(f_.vault().Delete("k1").has_value());
  e = One();
  EXPECT_EQ(e.type, event_type::kKeyDeleted);
  EXPECT_EQ(e.version, v2.version);
  ASSERT_TRUE(f_.vault().Recover("k1").has_value());
  EXPECT_EQ(One().type, event_type::kKeyRecovered);
  ASSERT_TRUE(f_.vault().Delete("k1").has_value());
  EXPECT_EQ(One().type, event_type::kKeyDeleted);
  COFFRE_ASSERT_OK(f_.vault().Purge("k1"));
  e = One();
  EXPECT_EQ(e.type, event_type::kKeyPurged);
  EXPECT_EQ(e.object_name, "k1");
  EXPECT_EQ(e.version, v2.version);
}

TEST_F(KeyEventsTest, ImportPublishesANewVersionAndAFailedChangePublishesNothing) {
  ImportKeyRequest import;
  import.kty = "oct";
  import.material = ImportOct(Bytes(32, std::byte{7})).value();
  ASSERT_TRUE(f_.vault().Import("k2", std::move(import)).has_value());
  EXPECT_EQ(One().type, event_type::kKeyNewVersionCreated);
  EXPECT_FALSE(f_.vault().Rotate("missing").has_value());
  EXPECT_FALSE(f_.vault().Purge("k2").ok());
  EXPECT_TRUE(sink_.Take().empty());
}

TEST_F(KeyEventsTest, AnAutomaticPurgeAtTheEndOfRetentionIsPublished) {
  ASSERT_TRUE(f_.vault().Create("k3", Oct()).has_value());
  ASSERT_TRUE(f_.vault().Delete("k3").has_value());
  sink_.Take();
  f_.Advance(91 * 86400);
  ASSERT_TRUE(f_.vault().ListDeleted().has_value());
  EXPECT_EQ(One().type, event_type::kKeyPurged);
}

TEST_F(KeyEventsTest, AccessPolicyChangesArePublishedButATokenRotationIsNot) {
  ASSERT_TRUE(f_.access().SetPrincipal("hub", {"get"}, std::nullopt, false).has_value());
  KeyEvent e = One();
  EXPECT_EQ(e.type, event_type::kVaultAccessPolicyChanged);
  EXPECT_EQ(e.object_name, "");
  ASSERT_TRUE(f_.access().SetPrincipal("hub", {"get"}, std::nullopt, true).has_value());
  EXPECT_TRUE(sink_.Take().empty()) << "same permissions, new token";
  ASSERT_TRUE(f_.access().SetPrincipal("hub", {"get", "wrapKey"}, std::nullopt, false).has_value());
  EXPECT_EQ(One().type, event_type::kVaultAccessPolicyChanged);
  ASSERT_TRUE(f_.access().SetPrincipal("hub", {"get", "wrapKey"}, true, false).has_value());
  EXPECT_EQ(One().type, event_type::kVaultAccessPolicyChanged) << "made admin";
  COFFRE_ASSERT_OK(f_.access().DeletePrincipal("hub"));
  EXPECT_EQ(One().type, event_type::kVaultAccessPolicyChanged);
}

}  // namespace
}  // namespace coffre::vault
