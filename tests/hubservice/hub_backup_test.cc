// Backup and restore through the whole hub, in-process (hub/hub_backups.h,
// hubservice/hub_restore.h): a backup made while the hub serves restores, on another directory
// and service key, to the hub as it was at that moment, which verifies; an erasure made after
// the backup survives the restore; a damaged backup, or another hub's data in the way, is
// refused and the data stays as it was; a restore cut short is finished or discarded at the next
// start; the routes need an owner's token and answer bad requests with errors.
#include <fcntl.h>
#include <unistd.h>

#include <mutex>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "common/files.h"
#include "fakes/fake_key_provider.h"
#include "hub/sas_token.h"
#include "hub/telemetry_messages.h"
#include "hubservice/handle_now.h"
#include "hubservice/hub_restore.h"
#include "hubservice/hub_service.h"
#include "hubservice/ingest_send.h"
#include "hubservice/test_hub_options.h"
#include "net/certificates.h"
#include "pg_server.h"
#include "test_util.h"

namespace coffre::hubservice {
namespace {

using coffre::testing::NumberedMessage;
using coffre::testing::StatusIs;
using nlohmann::json;
namespace fs = std::filesystem;

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

hub::DeviceIdentity Identity(const std::string& id) {
  hub::DeviceIdentity d;
  d.device_id = id;
  return d;
}

class HubBackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    certs_ = std::move(net::EnsureStackCertificates(dir_.path() / "tls", {}).value());
  }
  // A customer-managed hub in `name` whose vault is vault_ (every hub of a test shares it).
  HubOptions Options(const std::string& name) {
    HubOptions o = coffre::testing::TestHubOptions(dir_.path() / name, certs_);
    o.telemetry.partitions = 2;
    o.encryption.key_uri = "https://vault.example/keys/fake";
    o.key_monitor_thread = false;
    o.customer_keys = [this](const hub::EncryptionSettings& s, std::chrono::milliseconds) {
      std::lock_guard<std::mutex> guard(asked_mu_);
      asked_key_uris_.push_back(s.key_uri);
      return Result<std::shared_ptr<crypto::KeyProvider>>(
          std::shared_ptr<crypto::KeyProvider>(&vault_, [](crypto::KeyProvider*) {}));
    };
    return o;
  }

  static std::string Token(HubService& hub, const std::string& policy) {
    auto key = crypto::SecretBytes::CopyOf(
                   *Base64Decode(hub.policies().Get(policy).value().primary_key))
                   .value();
    return *hub::MakeSasToken("localhost", key, Now() + 3600, policy);
  }
  static net::HttpResponse Call(HubService& hub, const std::string& method,
                                const std::string& target, const std::string& token,
                                const std::string& body = "") {
    return coffre::testing::HandleNow(hub, method, target, token, body);
  }
  // Sends messages [from, to) of `device` and waits until they are stored.
  static void Send(HubService& hub, const std::string& device, int from, int to) {
    std::vector<hub::TelemetryMessage> messages;
    for (int n = from; n < to; ++n) messages.push_back(NumberedMessage(device, n));
    COFFRE_ASSERT_OK(coffre::testing::StoreThroughIngest(hub.ingest(), std::move(messages)));
  }
  // Every message stored for `device`: its numbers, -1 for an erased one.
  static std::vector<int> Numbers(HubService& hub, const std::string& device) {
    std::vector<int> out;
    int p = hub.store().PartitionOf(device);
    uint64_t from = hub.store().begin_sequence(p);
    while (from < hub.store().end_sequence(p)) {
      auto read = hub.store().Read(p, from, 1000, 1 << 20);
      EXPECT_TRUE(read.has_value()) << read.error().message();
      if (!read.has_value() || read->empty()) break;
      for (const hub::StoredMessage& m : *read) {
        from = m.sequence + 1;
        if (m.message.device_id != device) continue;
        if (m.erased) {
          out.push_back(-1);
          continue;
        }
        std::string body(reinterpret_cast<const char*>(m.message.body.data()), m.message.body.size());
        out.push_back(json::parse(body)["n"].get<int>());
      }
    }
    return out;
  }
  static std::vector<int> Range(int from, int to) {
    std::vector<int> out;
    for (int n = from; n < to; ++n) out.push_back(n);
    return out;
  }
  // Every partition verifies (chains, heads) and the metadata digests agree.
  static void ExpectVerifies(HubService& hub, uint64_t* erased = nullptr) {
    for (int p = 0; p < hub.store().partitions(); ++p) {
      auto v = hub.store().Verify(p);
      ASSERT_TRUE(v.has_value()) << v.error().message();
      EXPECT_TRUE(v->breaks.empty()) << "partition " << p << ": " << v->breaks.front().what;
      if (erased != nullptr) *erased += v->records_erased;
    }
    auto breaks = hub.keys().row_digests().Recheck();
    ASSERT_TRUE(breaks.has_value());
    EXPECT_TRUE(breaks->empty()) << breaks->front().table << ": " << breaks->front().what;
  }

  // Backup `id` once it is no longer running (at most 10 s).
  static hub::BackupStatus Finished(HubService& hub, const std::string& id) {
    for (int i = 0; i < 500 && hub.backups().Get(id)->state == "running"; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return hub.backups().Get(id).value();
  }

  // A backup through the routes, as `coffre hub backup` makes it, into `file`.
  void Backup(HubService& hub, const fs::path& file) {
    std::string owner = Token(hub, "iothubowner");
    auto started = Call(hub, "POST", "/$coffre/backups?api-version=2021-04-12", owner);
    ASSERT_EQ(started.status, 202u) << started.body;
    std::string id = json::parse(started.body)["id"];
    std::string path = "/$coffre/backups/" + id;
    json status;
    for (int i = 0; i < 500; ++i) {  // bounded: 10 s
      auto r = Call(hub, "GET", path + "?api-version=2021-04-12", owner);
      ASSERT_EQ(r.status, 200u) << r.body;
      status = json::parse(r.body);
      if (status["state"] != "running") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_EQ(status["state"], "succeeded") << status.dump();
    std::string content;
    while (true) {
      auto piece = Call(hub, "GET", path + "/content?api-version=2021-04-12&offset=" +
                                        std::to_string(content.size()), owner);
      ASSERT_EQ(piece.status, 200u) << piece.body;
      if (piece.body.empty()) break;
      content += piece.body;
    }
    EXPECT_EQ(content.size(), status["bytes"].get<uint64_t>());
    COFFRE_ASSERT_OK(WriteFileDurably(file, AsBytes(content)));
    EXPECT_EQ(Call(hub, "DELETE", path + "?api-version=2021-04-12", owner).status, 204u);
  }

  coffre::testing::TempDir dir_;
  coffre::testing::FakeKeyProvider vault_;
  net::StackCertificates certs_;
  std::mutex asked_mu_;
  std::vector<std::string> asked_key_uris_;  // each customer key the hub asked a provider for
};

// A cluster-mode hub (PostgreSQL) backs up as an embedded one does: the snapshot is a
// REPEATABLE READ transaction. Its backup restores into an embedded hub (the way out of cluster
// mode); a restore into a cluster store is refused.
TEST_F(HubBackupTest, ABackupOfAClusterModeHubRestoresIntoAnEmbeddedHub) {
  coffre::testing::PgServer server;
  if (!server.available()) GTEST_SKIP() << server.why_not();
  fs::path file = dir_.path() / "cluster.cbak";
  HubOptions a = Options("a");
  a.postgres_conninfo = server.conninfo();
  a.postgres_relaxed_durability = true;
  {
    auto hub = std::move(HubService::Start(a).value());
    Send(*hub, "dev-01", 0, 120);
    Backup(*hub, file);
    Send(*hub, "dev-01", 120, 130);  // after the backup: not in it
  }
  HubOptions refused = a;
  refused.restore_from = file;
  auto into_cluster = HubService::Start(refused);
  ASSERT_FALSE(into_cluster.has_value());
  EXPECT_EQ(into_cluster.error().code(), StatusCode::kFailedPrecondition);
  HubOptions b = Options("b");
  b.restore_from = file;
  auto hub = std::move(HubService::Start(b).value());
  EXPECT_EQ(Numbers(*hub, "dev-01"), Range(0, 120));
  ExpectVerifies(*hub);
}

TEST_F(HubBackupTest, ABackupRestoresTheHubAsOfItsMomentOnAnotherDirectoryAndServiceKey) {
  fs::path file = dir_.path() / "hub.cbak";
  std::string dev01_key;
  {
    auto hub = std::move(HubService::Start(Options("a")).value());
    COFFRE_ASSERT_OK(hub->registry().Create(Identity("dev-02")).status());
    Send(*hub, "dev-01", 0, 300);
    Send(*hub, "dev-02", 0, 200);
    dev01_key = hub->registry().Get("dev-01")->primary_key;
    Backup(*hub, file);
    Send(*hub, "dev-01", 300, 350);  // after the backup: not in it
    COFFRE_ASSERT_OK(hub->registry().Create(Identity("dev-03")).status());
  }
  HubOptions b = Options("b");  // its own directory and service key
  b.restore_from = file;
  auto hub = std::move(HubService::Start(b).value());
  EXPECT_EQ(Numbers(*hub, "dev-01"), Range(0, 300));
  EXPECT_EQ(Numbers(*hub, "dev-02"), Range(0, 200));
  EXPECT_EQ(hub->registry().Get("dev-01")->primary_key, dev01_key);
  EXPECT_THAT(hub->registry().Get("dev-03").error(), StatusIs(StatusCode::kNotFound));
  ExpectVerifies(*hub);
  EXPECT_FALSE(fs::exists(b.dir / "restore"));
  // It serves on: new messages continue the chain.
  Send(*hub, "dev-01", 300, 310);
  EXPECT_EQ(Numbers(*hub, "dev-01"), Range(0, 310));
  ExpectVerifies(*hub);
  hub.reset();
  // A plain restart keeps the restored data (no restore again).
  b.restore_from.clear();
  hub = std::move(HubService::Start(b).value());
  EXPECT_EQ(Numbers(*hub, "dev-01"), Range(0, 310));
}

TEST_F(HubBackupTest, AnErasureMadeAfterTheBackupIsKeptByTheRestore) {
  fs::path file = dir_.path() / "hub.cbak";
  HubOptions a = Options("a");
  int64_t erased_at = 0;
  {
    auto hub = std::move(HubService::Start(a).value());
    COFFRE_ASSERT_OK(hub->registry().Create(Identity("dev-02")).status());
    Send(*hub, "dev-01", 0, 100);
    Send(*hub, "dev-02", 0, 100);
    Backup(*hub, file);
    auto r = Call(*hub, "POST", "/$coffre/erasures?api-version=2021-04-12",
                  Token(*hub, "iothubowner"), R"({"deviceId":"dev-02"})");
    ASSERT_EQ(r.status, 200u) << r.body;
    auto erasures = hub->device_keys().Erasures();
    ASSERT_TRUE(erasures.has_value() && erasures->size() == 1u);
    erased_at = erasures->front().erased_ms;
  }
  a.restore_from = file;
  auto hub = std::move(HubService::Start(a).value());
  EXPECT_THAT(hub->registry().Get("dev-02").error(), StatusIs(StatusCode::kNotFound));
  EXPECT_EQ(Numbers(*hub, "dev-02"), std::vector<int>(100, -1));  // markers, nothing readable
  EXPECT_EQ(Numbers(*hub, "dev-01"), Range(0, 100));
  auto erasures = hub->device_keys().Erasures();
  ASSERT_TRUE(erasures.has_value());
  ASSERT_EQ(erasures->size(), 1u);
  EXPECT_EQ(erasures->front().device_id, "dev-02");
  EXPECT_EQ(erasures->front().erased_ms, erased_at);
  EXPECT_EQ(erasures->front().erased_by, "iothubowner");
  uint64_t erased = 0;
  ExpectVerifies(*hub, &erased);
  EXPECT_EQ(erased, 100u);
  // Restoring the same backup again changes nothing more (the erasure is known by then).
  hub.reset();
  hub = std::move(HubService::Start(a).value());
  EXPECT_EQ(hub->device_keys().Erasures()->size(), 1u);
  EXPECT_EQ(Numbers(*hub, "dev-02"), std::vector<int>(100, -1));
}

TEST_F(HubBackupTest, AnotherHubsDataInTheWayIsRefusedUnlessDiscarded) {
  fs::path file = dir_.path() / "hub.cbak";
  {
    auto hub = std::move(HubService::Start(Options("a")).value());
    Send(*hub, "dev-01", 0, 50);
    Backup(*hub, file);
  }
  HubOptions c = Options("c");
  {
    auto hub = std::move(HubService::Start(c).value());
    COFFRE_ASSERT_OK(hub->registry().Create(Identity("only-in-c")).status());
  }
  c.restore_from = file;
  auto refused = HubService::Start(c);
  ASSERT_FALSE(refused.has_value());
  EXPECT_THAT(refused.error(), StatusIs(StatusCode::kFailedPrecondition,
                                        ::testing::HasSubstr("of another hub")));
  c.restore_from.clear();
  {
    auto hub = std::move(HubService::Start(c).value());  // as it was
    EXPECT_TRUE(hub->registry().Get("only-in-c").has_value());
  }
  c.restore_from = file;
  c.restore_discard_current = true;
  auto hub = std::move(HubService::Start(c).value());
  EXPECT_THAT(hub->registry().Get("only-in-c").error(), StatusIs(StatusCode::kNotFound));
  EXPECT_EQ(Numbers(*hub, "dev-01"), Range(0, 50));
  ExpectVerifies(*hub);
}

TEST_F(HubBackupTest, ADamagedBackupIsRefusedAndTheDataStaysAsItWas) {
  fs::path file = dir_.path() / "hub.cbak";
  HubOptions a = Options("a");
  {
    auto hub = std::move(HubService::Start(a).value());
    Send(*hub, "dev-01", 0, 50);
    Backup(*hub, file);
    Send(*hub, "dev-01", 50, 60);
  }
  Bytes content = ReadFile(file).value();
  for (size_t at : {content.size() / 2, content.size() - 3}) {
    Bytes bad = content;
    bad[at] ^= std::byte{0x40};
    fs::path damaged = dir_.path() / "damaged.cbak";
    COFFRE_ASSERT_OK(WriteFileDurably(damaged, bad));
    HubOptions o = a;
    o.restore_from = damaged;
    auto refused = HubService::Start(o);
    ASSERT_FALSE(refused.has_value());
    EXPECT_THAT(refused.error(), StatusIs(StatusCode::kDataLoss));
  }
  HubOptions o = a;
  o.restore_from = dir_.path() / "cut.cbak";
  COFFRE_ASSERT_OK(WriteFileDurably(o.restore_from, ByteSpan(content.data(), content.size() - 100)));
  EXPECT_THAT(HubService::Start(o).error(),
              StatusIs(StatusCode::kDataLoss, ::testing::HasSubstr("cut short")));
  auto hub = std::move(HubService::Start(a).value());
  EXPECT_EQ(Numbers(*hub, "dev-01"), Range(0, 60));
  EXPECT_FALSE(fs::exists(a.dir / "restore"));
}

TEST_F(HubBackupTest, ARestoreCutShortIsFinishedOrDiscardedAtTheNextStart) {
  HubOptions a = Options("a");
  HubOptions c = Options("c");
  {
    auto hub = std::move(HubService::Start(a).value());
    Send(*hub, "dev-01", 0, 20);
  }
  {
    auto hub = std::move(HubService::Start(c).value());
    COFFRE_ASSERT_OK(hub->registry().Create(Identity("only-in-c")).status());
  }
  // Half-made (no READY): discarded, c's data stays.
  fs::create_directories(c.dir / "restore" / "meta");
  COFFRE_ASSERT_OK(WriteFileDurably(c.dir / "restore" / "meta" / "junk", AsBytes(std::string_view("x"))));
  {
    auto hub = std::move(HubService::Start(c).value());
    EXPECT_TRUE(hub->registry().Get("only-in-c").has_value());
    EXPECT_FALSE(fs::exists(c.dir / "restore"));
  }
  // Made and READY, cut while swapping (meta moved already, telemetry not): finished. Hub a's
  // service key goes along, as a restored store is written under the restoring hub's key.
  fs::create_directories(c.dir / "restore");
  fs::copy(a.dir / "telemetry", c.dir / "restore" / "telemetry", fs::copy_options::recursive);
  fs::remove_all(c.dir / "meta");
  fs::copy(a.dir / "meta", c.dir / "meta", fs::copy_options::recursive);
  COFFRE_ASSERT_OK(WriteFileDurably(c.dir / "restore" / "READY", {}));
  c.service_key_file = a.service_key_file;
  auto hub = std::move(HubService::Start(c).value());
  EXPECT_FALSE(fs::exists(c.dir / "restore"));
  EXPECT_THAT(hub->registry().Get("only-in-c").error(), StatusIs(StatusCode::kNotFound));
  EXPECT_EQ(Numbers(*hub, "dev-01"), Range(0, 20));
  ExpectVerifies(*hub);
}

TEST_F(HubBackupTest, TheRoutesNeedAnOwnersTokenAndRefuseBadRequests) {
  auto hub = std::move(HubService::Start(Options("a")).value());
  const std::string q = "?api-version=2021-04-12";
  for (std::string policy : {"service", "registryReadWrite", "registryRead", "device"}) {
    EXPECT_EQ(Call(*hub, "POST", "/$coffre/backups" + q, Token(*hub, policy)).status, 401u) << policy;
  }
  EXPECT_EQ(Call(*hub, "POST", "/$coffre/backups" + q, "").status, 401u);
  EXPECT_TRUE(hub->backups().List().empty());
  std::string owner = Token(*hub, "iothubowner");
  EXPECT_EQ(Call(*hub, "GET", "/$coffre/backups/nope" + q, owner).status, 404u);
  EXPECT_EQ(Call(*hub, "GET", "/$coffre/backups/nope/content" + q, owner).status, 404u);
  EXPECT_EQ(Call(*hub, "DELETE", "/$coffre/backups/nope" + q, owner).status, 404u);
  EXPECT_EQ(Call(*hub, "GET", "/$coffre/backups/" + q, owner).status, 404u);
  EXPECT_EQ(Call(*hub, "PUT", "/$coffre/backups" + q, owner).status, 405u);
  EXPECT_EQ(Call(*hub, "GET", "/$coffre/backups/x/y" + q, owner).status, 404u);
  auto started = Call(*hub, "POST", "/$coffre/backups" + q, owner, R"({"x":null,"y":1e999})");
  ASSERT_EQ(started.status, 202u) << started.body;
  std::string id = json::parse(started.body)["id"];
  for (std::string offset : {"-1", "abc", "99999999999999999999999", ""}) {
    auto r = Call(*hub, "GET", "/$coffre/backups/" + id + "/content" + q + "&offset=" + offset, owner);
    EXPECT_TRUE(r.status == 400u || r.status == 409u) << offset << ": " << r.status << " " << r.body;
  }
  ASSERT_EQ(Finished(*hub, id).state, "succeeded");
  auto beyond = Call(*hub, "GET", "/$coffre/backups/" + id + "/content" + q + "&offset=999999999", owner);
  EXPECT_EQ(beyond.status, 200u);
  EXPECT_TRUE(beyond.body.empty());
  auto listed = Call(*hub, "GET", "/$coffre/backups" + q, owner);
  ASSERT_EQ(listed.status, 200u);
  EXPECT_EQ(json::parse(listed.body).size(), 1u);
}

TEST_F(HubBackupTest, AtMostFourAreKeptAndNoneIsMadeWhileTheKeysAreLocked) {
  auto hub = std::move(HubService::Start(Options("a")).value());
  for (size_t i = 0; i < hub::kMaxKeptBackups; ++i) {
    auto started = hub->backups().Start("test");
    ASSERT_TRUE(started.has_value()) << started.error().message();
    EXPECT_EQ(Finished(*hub, started->id).state, "succeeded");
  }
  EXPECT_THAT(hub->backups().Start("test").error(),
              StatusIs(StatusCode::kFailedPrecondition, ::testing::HasSubstr("delete one first")));
  COFFRE_ASSERT_OK(hub->backups().Delete(hub->backups().List().front().id));
  hub->keys().Lock();
  auto locked = hub->backups().Start("test");
  ASSERT_TRUE(locked.has_value());
  hub::BackupStatus status = Finished(*hub, locked->id);
  EXPECT_EQ(status.state, "failed");
  EXPECT_NE(status.error.find("inaccessible"), std::string::npos) << status.error;
  EXPECT_FALSE(fs::exists(hub->backups().PathOf(locked->id)));
}

// The header is read before anything is authenticated: the vault and token it names are never
// used (they would be sent the hub's token). The hub's own settings unwrap; the changed header
// then fails the first chunk.
TEST_F(HubBackupTest, ATamperedHeaderNeverChoosesTheVault) {
  fs::path file = dir_.path() / "hub.cbak";
  HubOptions a = Options("a");
  {
    auto hub = std::move(HubService::Start(a).value());
    Send(*hub, "dev-01", 0, 10);
    Backup(*hub, file);
  }
  Bytes content = ReadFile(file).value();
  uint32_t length = GetU32(content.data() + 8);
  json header = json::parse(std::string(reinterpret_cast<const char*>(content.data() + 12), length));
  json evil = {{"keyUri", "https://evil.example/keys/steal"},
               {"vaultTokenFile", (a.dir.string() + ".service-key")}};
  std::string evil_text = evil.dump();
  header["settingsRow"] = Base64Encode(AsBytes(evil_text));
  std::string text = header.dump();
  Bytes forged(content.begin(), content.begin() + 8);
  forged.resize(12);
  PutU32(forged.data() + 8, static_cast<uint32_t>(text.size()));
  forged.insert(forged.end(), AsBytes(text).begin(), AsBytes(text).end());
  forged.insert(forged.end(), content.begin() + 12 + length, content.end());
  fs::path bad = dir_.path() / "forged.cbak";
  COFFRE_ASSERT_OK(WriteFileDurably(bad, forged));
  asked_key_uris_.clear();
  HubOptions o = Options("b");
  o.restore_from = bad;
  auto refused = HubService::Start(o);
  ASSERT_FALSE(refused.has_value());
  EXPECT_THAT(refused.error(), StatusIs(StatusCode::kDataLoss, ::testing::HasSubstr("chunk 0")));
  for (const std::string& uri : asked_key_uris_) EXPECT_NE(uri, "https://evil.example/keys/steal");
}

TEST_F(HubBackupTest, ARestoreIsRefusedBesideARunningHubOrUnderAnotherName) {
  fs::path file = dir_.path() / "hub.cbak";
  HubOptions a = Options("a");
  auto hub = std::move(HubService::Start(a).value());
  Send(*hub, "dev-01", 0, 10);
  Backup(*hub, file);
  HubOptions beside = a;
  beside.restore_from = file;
  beside.restore_discard_current = true;
  beside.mqtt.port = beside.https.port = beside.amqp.port = 0;
  EXPECT_THAT(HubService::Start(beside).error(),
              StatusIs(StatusCode::kFailedPrecondition, ::testing::HasSubstr("in use by another")));
  EXPECT_EQ(Numbers(*hub, "dev-01"), Range(0, 10));  // untouched
  hub.reset();
  HubOptions renamed = Options("b");
  renamed.host_names = {"other.example"};
  renamed.restore_from = file;
  EXPECT_THAT(HubService::Start(renamed).error(),
              StatusIs(StatusCode::kFailedPrecondition, ::testing::HasSubstr("--host-name localhost")));
}

// Device records are sealed under (device key, scope, epoch) with nonces from 0: a restored hub
// must never take an epoch again that it may have used after the backup.
TEST_F(HubBackupTest, TheRestoredHubNeverReusesADataKeyEpoch) {
  fs::path file = dir_.path() / "hub.cbak";
  HubOptions a = Options("a");
  uint64_t latest = 0;
  {
    auto hub = std::move(HubService::Start(a).value());
    Send(*hub, "dev-01", 0, 10);
    Backup(*hub, file);
  }
  for (int restart = 0; restart < 3; ++restart) {  // epochs used after the backup
    auto hub = std::move(HubService::Start(a).value());
    Send(*hub, "dev-01", 10 + restart, 11 + restart);
    int p = hub->store().PartitionOf("dev-01");
    latest = GetU64(hub->kv().Get("dek/epoch/" + std::to_string(p)).value().data());
  }
  a.restore_from = file;
  auto hub = std::move(HubService::Start(a).value());
  int p = hub->store().PartitionOf("dev-01");
  uint64_t restored = GetU64(hub->kv().Get("dek/epoch/" + std::to_string(p)).value().data());
  EXPECT_GT(restored, latest);
  Send(*hub, "dev-01", 10, 20);
  EXPECT_EQ(Numbers(*hub, "dev-01"), Range(0, 20));
  ExpectVerifies(*hub);
}

}  // namespace
}  // namespace coffre::hubservice
