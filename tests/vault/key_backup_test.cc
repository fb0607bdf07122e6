#include "vault/keys/key_backup.h"

#include <gtest/gtest.h>

#include <tuple>

#include <nlohmann/json.hpp>

#include "vault/seal/master_lineage.h"
#include "vault/api/rest_api.h"
#include "vault_fixture.h"

namespace coffre::vault {
namespace {

using nlohmann::json;
using testing::StatusIs;
using testing::StatusWithDetail;
using ::testing::HasSubstr;

CreateKeyRequest Rsa() {
  CreateKeyRequest r;
  r.kty = "RSA";
  r.key_size = 2048;
  return r;
}

Bytes Dek() { return Bytes(32, std::byte{0x5a}); }

std::unique_ptr<KeyBackup> BackupFor(const VaultFixture& f) {
  return std::move(KeyBackup::Create(f.master_key()).value());
}

Result<Bytes> BackupBlob(VaultFixture& f, const std::string& name) {
  COFFRE_ASSIGN_OR_RETURN(KeySnapshot snapshot, f.vault().Snapshot(name));
  return BackupFor(f)->Seal(snapshot);
}

Result<KeyVersion> RestoreBlob(VaultFixture& f, ByteSpan blob) {
  COFFRE_ASSIGN_OR_RETURN(KeySnapshot snapshot, BackupFor(f)->Open(blob));
  return f.vault().Restore(snapshot);
}

// Everything a restore must bring back of a version.
auto Restorable(const KeyVersion& v) {
  return std::tie(v.name, v.version, v.kty, v.key_size, v.key_ops, v.enabled, v.nbf, v.exp,
                  v.created, v.updated, v.tags, v.n, v.e);
}

void ExpectSameVersion(const KeyVersion& a, const KeyVersion& b) {
  EXPECT_TRUE(Restorable(a) == Restorable(b)) << a.version << " vs " << b.version;
}

TEST(KeyBackupTest, RestoreAfterPurgeBringsBackEveryVersionWithItsIdAttributesAndMaterial) {
  VaultFixture f(VaultSettings{false, 7});
  CreateKeyRequest first = Rsa();
  first.key_ops = std::vector<std::string>{"wrapKey", "unwrapKey"};
  first.tags = {{"owner", "ops"}};
  COFFRE_ASSERT_OK_AND_ASSIGN(KeyVersion v1, f.vault().Create("k", first));
  COFFRE_ASSERT_OK_AND_ASSIGN(auto wrapped,
                              f.vault().Operate("k", "", "wrapKey", "RSA-OAEP-256", Dek()));
  f.Advance(60);
  COFFRE_ASSERT_OK(f.vault().Rotate("k").status());
  UpdateKeyRequest disable;
  disable.attributes.enabled = false;
  f.Advance(60);
  COFFRE_ASSERT_OK(f.vault().Update("k", "", disable).status());
  COFFRE_ASSERT_OK(f.vault().Rotate("k").status());
  UpdateKeyRequest expire;
  expire.attributes.exp = std::optional<int64_t>(f.now() + 86400);
  expire.tags = json{{"stage", "3"}};
  COFFRE_ASSERT_OK(f.vault().Update("k", "", expire).status());
  COFFRE_ASSERT_OK_AND_ASSIGN(auto before, f.vault().ListVersions("k"));
  ASSERT_EQ(before.size(), 3u);

  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes blob, BackupBlob(f, "k"));
  COFFRE_ASSERT_OK(f.vault().Delete("k").status());
  COFFRE_ASSERT_OK(f.vault().Purge("k"));
  EXPECT_THAT(f.vault().Get("k", "").status(), StatusIs(StatusCode::kNotFound));
  f.Advance(3600);

  COFFRE_ASSERT_OK_AND_ASSIGN(KeyVersion latest, RestoreBlob(f, blob));
  ExpectSameVersion(latest, before.back());
  f.Open();  // durable, not just cached
  COFFRE_ASSERT_OK_AND_ASSIGN(auto after, f.vault().ListVersions("k"));
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < before.size(); ++i) ExpectSameVersion(after[i], before[i]);
  EXPECT_EQ(f.vault().Get("k", "")->version, before.back().version);
  // A value wrapped before the backup unwraps after the restore, with the same version.
  COFFRE_ASSERT_OK_AND_ASSIGN(auto unwrapped, f.vault().Operate("k", v1.version, "unwrapKey",
                                                               "RSA-OAEP-256", wrapped.value));
  EXPECT_EQ(unwrapped.value, Dek());
  EXPECT_THAT(f.vault().Operate("k", before[1].version, "wrapKey", "RSA-OAEP", Dek()).status(),
              StatusWithDetail(StatusCode::kFailedPrecondition, "KeyDisabled"));
  COFFRE_EXPECT_OK(f.vault().Operate("k", "", "wrapKey", "RSA-OAEP-256", Dek()).status());
}

TEST(KeyBackupTest, WhatElseTheKeyRecordHoldsComesBack) {
  // A rotation policy lives in the key's record: whatever is there travels with the backup.
  VaultFixture f(VaultSettings{false, 7});
  COFFRE_ASSERT_OK(f.vault().Create("k", Rsa()).status());
  COFFRE_ASSERT_OK_AND_ASSIGN(KeySnapshot snapshot, f.vault().Snapshot("k"));
  EXPECT_FALSE(snapshot.record.contains("versions"));
  EXPECT_FALSE(snapshot.record.contains("deleted"));
  json policy = {{"lifetimeActions", json::array({{{"trigger", {{"timeAfterCreate", "P90D"}}},
                                                   {"action", {{"type", "Rotate"}}}}})}};
  snapshot.record["rotation_policy"] = policy;
  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes blob, BackupFor(f)->Seal(snapshot));
  COFFRE_ASSERT_OK(f.vault().Delete("k").status());
  COFFRE_ASSERT_OK(f.vault().Purge("k"));
  COFFRE_ASSERT_OK(RestoreBlob(f, blob).status());
  COFFRE_ASSERT_OK_AND_ASSIGN(KeySnapshot again, f.vault().Snapshot("k"));
  EXPECT_EQ(again.record["rotation_policy"], policy);
}

TEST(KeyBackupTest, RestoreOverALiveNameIsAConflict) {
  VaultFixture f;
  COFFRE_ASSERT_OK_AND_ASSIGN(KeyVersion v1, f.vault().Create("k", Rsa()));
  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes blob, BackupBlob(f, "k"));
  COFFRE_ASSERT_OK(f.vault().Rotate("k").status());
  Status s = RestoreBlob(f, blob).status();
  EXPECT_THAT(s, StatusIs(StatusCode::kAlreadyExists, HasSubstr("conflict restoring the key k")));
  EXPECT_EQ(s.detail(), "");  // no inner error code
  EXPECT_EQ(f.vault().ListVersions("k")->size(), 2u);     // untouched
}

TEST(KeyBackupTest, RestoreOverASoftDeletedNameIsObjectIsDeletedButRecoverable) {
  VaultFixture f;
  COFFRE_ASSERT_OK(f.vault().Create("k", Rsa()).status());
  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes blob, BackupBlob(f, "k"));
  COFFRE_ASSERT_OK(f.vault().Delete("k").status());
  EXPECT_THAT(RestoreBlob(f, blob).status(),
              StatusWithDetail(StatusCode::kAlreadyExists, "ObjectIsDeletedButRecoverable"));
  COFFRE_EXPECT_OK(f.vault().Recover("k").status());
}

TEST(KeyBackupTest, BackupOfAMissingOrDeletedKeyIsNotFound) {
  VaultFixture f;
  EXPECT_THAT(f.vault().Snapshot("nope").status(), StatusIs(StatusCode::kNotFound));
  COFFRE_ASSERT_OK(f.vault().Create("k", Rsa()).status());
  COFFRE_ASSERT_OK(f.vault().Delete("k").status());
  EXPECT_THAT(f.vault().Snapshot("k").status(), StatusIs(StatusCode::kNotFound));
}

TEST(KeyBackupTest, EveryFlippedBitAndEveryTruncationIsRefused) {
  VaultFixture f;
  CreateKeyRequest oct;
  oct.kty = "oct-HSM";
  COFFRE_ASSERT_OK(f.vault().Create("k", oct).status());
  COFFRE_ASSERT_OK(f.vault().Rotate("k").status());
  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes blob, BackupBlob(f, "k"));
  auto backup = BackupFor(f);
  COFFRE_ASSERT_OK(backup->Open(blob).status());
  for (size_t i = 0; i < blob.size(); ++i) {
    for (uint8_t bit : {0x01, 0x80}) {
      Bytes bad = blob;
      bad[i] ^= std::byte{bit};
      EXPECT_THAT(backup->Open(bad).status(), StatusIs(StatusCode::kInvalidArgument))
          << "byte " << i;
    }
  }
  for (size_t n = 0; n < blob.size(); ++n) {
    EXPECT_THAT(backup->Open(ByteSpan(blob).first(n)).status(),
                StatusIs(StatusCode::kInvalidArgument))
        << "length " << n;
  }
  Bytes longer = blob;
  longer.push_back(std::byte{0});
  EXPECT_THAT(backup->Open(longer).status(), StatusIs(StatusCode::kInvalidArgument));
  // Parts of two blobs of the same vault do not combine.
  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes other, BackupBlob(f, "k"));
  ASSERT_EQ(other.size(), blob.size());
  Bytes spliced(blob.begin(), blob.end() - 60);
  spliced.insert(spliced.end(), other.end() - 60, other.end());
  EXPECT_THAT(backup->Open(spliced).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("integrity")));
  EXPECT_THAT(backup->Open(AsBytes("not a backup at all, but long enough to parse")).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not a Coffre key backup")));
}

TEST(KeyBackupTest, AVaultWithAnotherMasterKeyRefusesTheBlob) {
  VaultFixture a;
  VaultFixture b;
  COFFRE_ASSERT_OK(a.vault().Create("k", Rsa()).status());
  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes blob, BackupBlob(a, "k"));
  EXPECT_THAT(RestoreBlob(b, blob).status(),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("Backup blob is from a different key vault")));
  EXPECT_THAT(b.vault().Get("k", "").status(), StatusIs(StatusCode::kNotFound));
  // Even with the lineage id rewritten to b's, b's backup key cannot open it.
  Bytes relabelled = blob;
  auto b_backup = BackupFor(b);
  ByteSpan lineage = b_backup->lineage_id();
  std::copy(lineage.begin(), lineage.end(), relabelled.begin() + 5);
  EXPECT_THAT(RestoreBlob(b, relabelled).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("integrity")));
}

TEST(KeyBackupTest, AVaultOfTheSameMasterKeyLineageRestoresTheBlob) {
  VaultFixture a;
  COFFRE_ASSERT_OK_AND_ASSIGN(KeyVersion v, a.vault().Create("k", Rsa()));
  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes blob, BackupBlob(a, "k"));
  VaultFixture twin(VaultSettings{}, a.master_key());  // other store, same master key
  COFFRE_ASSERT_OK_AND_ASSIGN(KeyVersion restored, RestoreBlob(twin, blob));
  ExpectSameVersion(restored, v);
}

TEST(KeyBackupTest, LineageIdIsAStableOneWayFunctionOfTheMasterKey) {
  Bytes raw(32);
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = std::byte(i);
  COFFRE_ASSERT_OK_AND_ASSIGN(auto master, crypto::SecretBytes::CopyOf(raw));
  // HKDF-SHA256(ikm = 00..1f, no salt, info "coffre/vault/master-lineage/v1"), first 16 bytes.
  COFFRE_ASSERT_OK_AND_ASSIGN(Bytes id, MasterLineageId(master));
  EXPECT_EQ(HexEncode(id), "96031831513b2a219be4beadb7c9c6c3");
  COFFRE_ASSERT_OK_AND_ASSIGN(auto other, crypto::SecretBytes::Random(32));
  EXPECT_NE(MasterLineageId(other).value(), id);
  EXPECT_EQ(HexEncode(KeyBackup::Create(master).value()->lineage_id()), HexEncode(id));
}

TEST(KeyBackupTest, TooMuchKeyMaterialIsRefusedAtBackup) {
  KeySnapshot big;
  big.name = "k";
  big.material = std::move(crypto::SecretBytes::Allocate(kMaxBackupMaterialBytes + 1).value());
  big.versions.push_back({std::string(32, 'a'), json::object(), 0, big.material.size()});
  COFFRE_ASSERT_OK_AND_ASSIGN(auto master, crypto::SecretBytes::Random(32));
  EXPECT_THAT(KeyBackup::Create(master).value()->Seal(big).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("too large to back up")));
}

TEST(KeyBackupTest, SnapshotMetadataRefusesWhatDoesNotAddUp) {
  auto material = [](size_t n) { return std::move(crypto::SecretBytes::Allocate(n).value()); };
  std::string id(32, 'b');
  json good = {{"name", "k"},
               {"record", json::object()},
               {"versions", json::array({{{"id", id}, {"record", json::object()},
                                          {"material_size", 4}}})}};
  COFFRE_EXPECT_OK(DecodeKeySnapshot(good.dump(), material(4)).status());
  EXPECT_THAT(DecodeKeySnapshot(good.dump(), material(5)).status(),
              StatusIs(StatusCode::kInvalidArgument));
  json repeated = good;
  repeated["versions"].push_back(good["versions"][0]);
  EXPECT_THAT(DecodeKeySnapshot(repeated.dump(), material(8)).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("repeated")));
  for (auto [field, value] : {std::pair<const char*, json>{"name", "bad_name"},
                              {"name", 7},
                              {"record", json::array()},
                              {"versions", json::array()}}) {
    json bad = good;
    bad[field] = value;
    EXPECT_THAT(DecodeKeySnapshot(bad.dump(), material(4)).status(),
                StatusIs(StatusCode::kInvalidArgument))
        << field << " = " << value;
  }
  for (json version : {json{{"id", "ABC"}, {"record", json::object()}, {"material_size", 4}},
                       json{{"id", id}, {"record", 1}, {"material_size", 4}},
                       json{{"id", id}, {"record", json::object()}, {"material_size", -4}},
                       json{{"id", id}, {"record", json::object()}, {"material_size", 0}}}) {
    json bad = good;
    bad["versions"][0] = version;
    EXPECT_THAT(DecodeKeySnapshot(bad.dump(), material(4)).status(),
                StatusIs(StatusCode::kInvalidArgument))
        << version;
  }
  EXPECT_THAT(DecodeKeySnapshot("{", material(4)).status(), StatusIs(StatusCode::kInvalidArgument));
}

// The REST routes as the SDK calls them: POST /keys/{n}/backup, POST /keys/restore.
class BackupRoutesTest : public ::testing::Test {
 protected:
  BackupRoutesTest() : backup_(BackupFor(f_)) {
    std::set<std::string> all(AllKeyPermissions().begin(), AllKeyPermissions().end());
    owner_ = *f_.access().SetPrincipal("owner", all, true, true).value().token;
    reader_ = *f_.access().SetPrincipal("reader", {"get", "list"}, false, true).value().token;
    api_ = std::make_unique<RestApi>(f_.vault(), f_.access(),
                                     RestApiOptions{"https://localhost:8443"}, backup_.get());
  }

  net::HttpResponse Post(const std::string& path, const std::string& body,
                         const std::string& token) {
    net::HttpRequest r;
    r.method = "POST";
    r.target = path + "?api-version=7.5";
    r.body = body;
    r.headers.emplace_back("Authorization", "Bearer " + token);
    return api_->Handle(r);
  }

  static json Body(const net::HttpResponse& r) { return json::parse(r.body, nullptr, false); }

  VaultFixture f_;
  std::unique_ptr<KeyBackup> backup_;
  std::string owner_, reader_;
  std::unique_ptr<RestApi> api_;
};

TEST_F(BackupRoutesTest, BackupAndRestoreSpeakAzureShapes) {
  COFFRE_ASSERT_OK_AND_ASSIGN(KeyVersion v, f_.vault().Create("k", Rsa()));
  net::HttpResponse backup = Post("/keys/k/backup", "", owner_);
  ASSERT_EQ(backup.status, 200u) << backup.body;
  std::string value = Body(backup)["value"].get<std::string>();
  EXPECT_EQ(value.find_first_of("+/="), std::string::npos);  // unpadded base64url

  std::string restore_body = json{{"value", value}}.dump();
  net::HttpResponse live = Post("/keys/restore", restore_body, owner_);
  EXPECT_EQ(live.status, 409u);
  EXPECT_EQ(Body(live)["error"]["code"], "Conflict");
  COFFRE_ASSERT_OK(f_.vault().Delete("k").status());
  net::HttpResponse deleted = Post("/keys/restore", restore_body, owner_);
  EXPECT_EQ(deleted.status, 409u);
  EXPECT_EQ(Body(deleted)["error"]["innererror"]["code"], "ObjectIsDeletedButRecoverable");
  COFFRE_ASSERT_OK(f_.vault().Purge("k"));
  net::HttpResponse restored = Post("/keys/restore", restore_body, owner_);
  ASSERT_EQ(restored.status, 200u) << restored.body;
  EXPECT_EQ(Body(restored)["key"]["kid"], "https://localhost:8443/keys/k/" + v.version);
}

TEST_F(BackupRoutesTest, BadRequestsAreRefusedWithAzureErrors) {
  COFFRE_ASSERT_OK(f_.vault().Create("k", Rsa()).status());
  EXPECT_EQ(Post("/keys/k/backup", "", reader_).status, 403u);
  EXPECT_EQ(Post("/keys/restore", R"({"value":"AAAA"})", reader_).status, 403u);
  EXPECT_EQ(Post("/keys/missing/backup", "", owner_).status, 404u);
  for (std::string body : {"", "{}", R"({"value":7})", R"({"value":"***"})",
                           R"({"value":"AAAA"})", "[1]"}) {
    net::HttpResponse r = Post("/keys/restore", body, owner_);
    EXPECT_EQ(r.status, 400u) << body << ": " << r.body;
    EXPECT_EQ(Body(r)["error"]["code"], "BadParameter") << body;
  }
}

}  // namespace
}  // namespace coffre::vault
