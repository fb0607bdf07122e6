// Key names became case-insensitive (issue 12): a store whose keys were created before, under
// their exact names, still opens; its keys move to their lower-case ids and keep their kids'
// names and their material; two keys that differ only in case both stay reachable.
#include <gtest/gtest.h>

#include "test_util.h"
#include "vault/vault_fixture.h"

namespace coffre::vault {
namespace {

using nlohmann::json;

// Moves a key's records back to where a vault before the change kept them: its exact name.
void MakeLegacy(SealedStore& store, const std::string& name) {
  std::string id = LowerKeyName(name);
  json record = store.GetJson("key/" + id).value();
  record.erase("name");
  std::vector<crypto::SecretBytes> materials;
  std::vector<SealedStore::Change> changes;
  for (const json& v : record["versions"]) {
    std::string version = v.get<std::string>();
    changes.push_back({"ver/" + name + "/" + version,
                       store.GetJson("ver/" + id + "/" + version).value(), {}, false});
    materials.push_back(std::move(store.GetSecret("mat/" + id + "/" + version).value()));
    changes.push_back({"mat/" + name + "/" + version, {}, materials.back().Reveal(), false});
    changes.push_back({"ver/" + id + "/" + version, {}, {}, true});
    changes.push_back({"mat/" + id + "/" + version, {}, {}, true});
  }
  changes.push_back({"key/" + name, record, {}, false});
  changes.push_back({"key/" + id, {}, {}, true});
  COFFRE_ASSERT_OK(store.Apply(changes));
}

TEST(KeyNameMigrationTest, KeysFromBeforeCaseInsensitiveNamesAreFoundByAnySpelling) {
  VaultFixture f;
  CreateKeyRequest oct;
  oct.kty = "oct";
  KeyVersion created = f.vault().Create("Legacy-Key", oct).value();
  Bytes secret(32, std::byte{1});
  OperationResult wrapped = f.vault().Operate("Legacy-Key", "", "wrapKey", "A256KW", secret).value();
  MakeLegacy(f.store(), "Legacy-Key");
  EXPECT_FALSE(f.store().GetJson("key/legacy-key").has_value());

  COFFRE_ASSERT_OK(KeyVault::MigrateKeyNames(f.store()));
  f.Open();
  EXPECT_TRUE(f.store().GetJson("key/legacy-key").has_value());
  EXPECT_FALSE(f.store().GetJson("key/Legacy-Key").has_value());
  for (std::string spelling : {"legacy-key", "LEGACY-KEY", "Legacy-Key"}) {
    KeyVersion v = f.vault().Get(spelling, "").value();
    EXPECT_EQ(v.name, "Legacy-Key");
    EXPECT_EQ(v.version, created.version);
  }
  OperationResult unwrapped =
      f.vault().Operate("LEGACY-KEY", created.version, "unwrapKey", "A256KW", wrapped.value).value();
  EXPECT_EQ(unwrapped.value, secret);
  EXPECT_EQ(unwrapped.name, "Legacy-Key");
  // Migrating again changes nothing.
  COFFRE_ASSERT_OK(KeyVault::MigrateKeyNames(f.store()));
  EXPECT_EQ(f.vault().ListLatest().value().size(), 1u);
}

TEST(KeyNameMigrationTest, TwoKeysThatDifferOnlyInCaseBothStayReachable) {
  VaultFixture f;
  CreateKeyRequest oct;
  oct.kty = "oct";
  KeyVersion upper = f.vault().Create("TWIN", oct).value();
  MakeLegacy(f.store(), "TWIN");
  KeyVersion lower = f.vault().Create("twin", oct).value();
  COFFRE_ASSERT_OK(KeyVault::MigrateKeyNames(f.store()));
  EXPECT_EQ(f.vault().Get("TWIN", "").value().version, upper.version);
  EXPECT_EQ(f.vault().Get("twin", "").value().version, lower.version);
  EXPECT_EQ(f.vault().Get("Twin", "").value().version, lower.version);
  EXPECT_EQ(f.vault().ListLatest().value().size(), 2u);
}

}  // namespace
}  // namespace coffre::vault
