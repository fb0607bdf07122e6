// A whole hub in cluster mode, in-process, on a PostgreSQL 15 server of the test's own: a
// device's message acknowledged over MQTT is in PostgreSQL (as ciphertext only), and another
// hub node, with its own data directory and the same service key, serves the same registry and
// telemetry. A server that does not commit to a standby is refused unless told otherwise.
#include <gtest/gtest.h>

#include <thread>

#include "common/encoding.h"
#include "common/files.h"
#include "hub/sas_token.h"
#include "hubservice/dev01_connect.h"
#include "hubservice/cluster_sessions.h"
#include "hubservice/hub_cluster_fixture.h"
#include "hubservice/hub_service.h"
#include "hubservice/ingest_send.h"
#include "hubservice/test_hub_options.h"
#include "mqtt/server_fixture.h"
#include "net/certificates.h"
#include "net/tls_test_client.h"
#include "pg_server.h"
#include "pgstore/pg_connection.h"
#include "test_util.h"

namespace coffre::hubservice {
namespace {

class HubClusterStoreTest : public HubClusterFixture {};

TEST_F(HubClusterStoreTest, AnAcknowledgedMessageIsInPostgresAndAnotherNodeServesIt) {
  const std::string body = "acknowledged-then-stored-in-postgres";
  {
    auto a = std::move(HubService::Start(Node("node-a")).value());
    ASSERT_TRUE(Publish(*a, certs_, body));
    a->Stop();
  }
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "node-a/meta"));  // nothing embedded
  std::string stored = EverythingStored();
  EXPECT_FALSE(stored.empty());
  EXPECT_EQ(stored.find(body), std::string::npos);  // sealed twice before it left the hub

  auto b = std::move(HubService::Start(Node("node-b")).value());
  hub::TelemetryStore& store = b->store();
  auto read = store.Read(store.PartitionOf("dev-01"), 0, 10, SIZE_MAX).value();
  ASSERT_EQ(read.size(), 1u);
  EXPECT_EQ(AsChars(read[0].message.body), body);
  // And it goes on from there: the chain and the sealed head continue across nodes.
  ASSERT_TRUE(Publish(*b, certs_, "second"));
  read = store.Read(store.PartitionOf("dev-01"), 0, 10, SIZE_MAX).value();
  ASSERT_EQ(read.size(), 2u);
  EXPECT_EQ(AsChars(read[1].message.body), "second");
  auto verified = store.Verify(store.PartitionOf("dev-01")).value();
  EXPECT_EQ(verified.records_checked, 2u);
  EXPECT_TRUE(verified.breaks.empty());
}

// Two nodes serve one store at once: a device's message acknowledged by either is read back by
// the other. An erasure made on one node reaches the other's memory: the records it had opened
// are served as erased. A change of the encryption settings, which would not reach the other
// node yet, is refused while it runs, naming it, and allowed once it has stopped.
TEST_F(HubClusterStoreTest, TwoNodesServeOneStoreEraseOnBothAndRefuseAKeyChangeWhileBothRun) {
  auto a = std::move(HubService::Start(Node("node-a")).value());
  auto b = HubService::Start(Node("node-b"));
  ASSERT_TRUE(b.has_value()) << b.error().message();
  EXPECT_TRUE(Publish(*a, certs_, "through a"));
  EXPECT_TRUE(Publish(**b, certs_, "through b"));
  hub::TelemetryStore& store = (*b)->store();
  const int partition = store.PartitionOf("dev-01");
  auto read = store.Read(partition, 0, 10, SIZE_MAX);
  ASSERT_TRUE(read.has_value()) << read.error().message();
  ASSERT_EQ(read->size(), 2u);
  EXPECT_EQ(AsChars(read->front().message.body), "through a");
  EXPECT_FALSE(read->front().erased.has_value());

  const std::string auth = OwnerAuthorization(*a);
  coffre::testing::TlsClient https(a->https_port(), certs_.ca_file);
  const std::string tunables = R"({"keyCheckIntervalMs": 400})";
  auto refused = https.Call("PUT", "/$coffre/encryption", tunables, auth);
  EXPECT_EQ(refused.result_int(), 409u) << refused.body();
  EXPECT_NE(refused.body().find("does not yet reach the other hub nodes"), std::string::npos)
      << refused.body();
  const std::string b_id = ReadTextFile(dir_.path() / "node-b" / "node-id").value();
  EXPECT_NE(refused.body().find(b_id.substr(0, 16)), std::string::npos) << refused.body();

  auto erase = https.Call("POST", "/$coffre/erasures", R"({"deviceId": "dev-01"})", auth);
  EXPECT_EQ(erase.result_int(), 200u) << erase.body();
  // Node b forgets the device's key when told (a notification): waited for, bounded.
  bool erased_on_b = false;
  for (int i = 0; i < 500 && !erased_on_b; ++i) {
    read = store.Read(partition, 0, 10, SIZE_MAX);
    ASSERT_TRUE(read.has_value()) << read.error().message();
    erased_on_b = read->size() == 2u && read->front().erased && read->back().erased;
    if (!erased_on_b) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(erased_on_b) << "node b still serves the erased device's records";
  EXPECT_TRUE(read->front().message.body.empty());

  b->reset();  // node b stops: its registration goes with its connection
  EXPECT_EQ(https.Call("PUT", "/$coffre/encryption", tunables, auth).result_int(), 200u);
}

// A device that connects to another node while its connection to the first lives: the first
// node closes the older connection, as Azure IoT Hub does, and the new one serves.
TEST_F(HubClusterStoreTest, ADevicesConnectionOnAnotherNodeClosesItsOlderOne) {
  auto a = std::move(HubService::Start(Node("node-a")).value());
  auto b = std::move(HubService::Start(Node("node-b")).value());
  Bytes connect =
      coffre::testing::Dev01ConnectPacket(a->registry().Get("dev-01").value().primary_key);
  mqtt::Client first(a->mqtt_port(), certs_.ca_file);
  first.Send(connect);
  auto connack = first.Receive();
  ASSERT_TRUE(connack && std::get<mqtt::ConnAck>(*connack).code == mqtt::ConnectCode::kAccepted);
  mqtt::Client second(b->mqtt_port(), certs_.ca_file);
  second.Send(connect);
  connack = second.Receive();
  ASSERT_TRUE(connack && std::get<mqtt::ConnAck>(*connack).code == mqtt::ConnectCode::kAccepted);
  EXPECT_FALSE(first.Receive(std::chrono::seconds(20)).has_value());
  // Closed by the takeover (counted once the close is posted: waited for, not raced).
  for (int i = 0; i < 500 && a->cluster_sessions()->taken_over() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(a->cluster_sessions()->taken_over(), 1u);
  second.Send(mqtt::Publish1(9, "through b"));
  auto ack = second.Receive();
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(std::get<mqtt::PacketIdOnly>(*ack).packet_id, 9);
  EXPECT_EQ(b->cluster_sessions()->taken_over(), 0u);
}

// A C2D message a service sends through one node reaches the device connected to the other:
// queued in the store, its connection woken by a notification.
TEST_F(HubClusterStoreTest, AC2dMessageSentThroughOneNodeReachesTheDeviceOnTheOther) {
  auto a = std::move(HubService::Start(Node("node-a")).value());
  auto b = std::move(HubService::Start(Node("node-b")).value());
  mqtt::Client device(b->mqtt_port(), certs_.ca_file);
  ASSERT_TRUE(ConnectDev01(*b, device));
  mqtt::Subscribe subscribe;
  subscribe.packet_id = 1;
  subscribe.filters = {{"devices/dev-01/messages/devicebound/#", 1}};
  Bytes out;
  mqtt::EncodeSubscribe(out, subscribe);
  device.Send(out);
  auto suback = device.Receive();
  ASSERT_TRUE(suback && std::holds_alternative<mqtt::SubAck>(*suback));

  const std::string auth = OwnerAuthorization(*a);
  coffre::testing::TlsClient https(a->https_port(), certs_.ca_file);
  auto sent = https.Call("POST", "/devices/dev-01/messages/devicebound?api-version=2021-04-12",
                         "from the service, through a", auth);
  ASSERT_EQ(sent.result_int(), 204u) << sent.body();
  std::optional<mqtt::Packet> delivered;
  do {
    delivered = device.Receive(std::chrono::seconds(20));
  } while (delivered && !std::holds_alternative<mqtt::Publish>(*delivered));
  ASSERT_TRUE(delivered.has_value()) << "the device on node b got no C2D message";
  EXPECT_EQ(AsChars(std::get<mqtt::Publish>(*delivered).payload), "from the service, through a");
}

// A device disabled through one node loses its connection on the other: the change is told to
// every node, which re-checks the sessions it holds of that device.
TEST_F(HubClusterStoreTest, ADeviceDisabledOnOneNodeLosesItsConnectionOnTheOther) {
  auto a = std::move(HubService::Start(Node("node-a")).value());
  auto b = std::move(HubService::Start(Node("node-b")).value());
  mqtt::Client device(b->mqtt_port(), certs_.ca_file);
  ASSERT_TRUE(ConnectDev01(*b, device));
  hub::DeviceIdentity disabled = a->registry().Get("dev-01").value();
  disabled.status = hub::DeviceStatus::kDisabled;
  COFFRE_ASSERT_OK(a->registry().Update(disabled, "*").status());
  const auto started = std::chrono::steady_clock::now();
  EXPECT_FALSE(device.Receive(std::chrono::seconds(20)).has_value());
  // Closed by the change, long before the wait would have run out.
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(15));
  mqtt::Client again(b->mqtt_port(), certs_.ca_file);
  again.Send(coffre::testing::Dev01ConnectPacket(b->registry().Get("dev-01").value().primary_key));
  auto connack = again.Receive();
  ASSERT_TRUE(connack.has_value());
  EXPECT_NE(std::get<mqtt::ConnAck>(*connack).code, mqtt::ConnectCode::kAccepted);
}

// Announcements waiting together go as few notifications, each under PostgreSQL's payload
// limit, lines whole and in order.
TEST(ClusterSessionsPackTest, LinesGoInAsFewPayloadsAsFitTheLimit) {
  std::vector<std::string> lines;
  for (int i = 0; i < 500; ++i) {
    lines.push_back(std::string(32, 'a' + static_cast<char>(i % 26)) + " " + std::to_string(i) +
                    " 00000000000000aa");
  }
  std::vector<std::string> payloads = ClusterSessions::Pack(lines);
  EXPECT_GT(payloads.size(), 1u);
  EXPECT_LT(payloads.size(), 10u);
  std::string joined;
  for (const std::string& p : payloads) {
    EXPECT_LT(p.size(), 8000u);
    joined += (joined.empty() ? "" : "\n") + p;
  }
  std::string expected;
  for (const std::string& l : lines) expected += (expected.empty() ? "" : "\n") + l;
  EXPECT_EQ(joined, expected);
  EXPECT_TRUE(ClusterSessions::Pack({}).empty());
}

// A whole hub whose partition 1 lives in a PostgreSQL cluster of its own (a second server):
// each device's messages land in the cluster its partition's place names, as ciphertext, and
// the hub and a second node read every one back in order; the main store holds none of
// partition 1's.
TEST_F(HubClusterStoreTest, TelemetryOfAPartitionInAClusterOfItsOwnLandsThereAndReadsBack) {
  testing::PgServer other;
  if (!other.available()) GTEST_SKIP() << other.why_not();
  auto with_map = [&](const std::string& name) {
    HubOptions o = Node(name);
    o.partition_clusters = {{{1}, other.conninfo()}};
    return o;
  };
  auto a = std::move(HubService::Start(with_map("node-a")).value());
  const std::string in_main = coffre::testing::DeviceInPartition(a->store(), 0);
  const std::string in_other = coffre::testing::DeviceInPartition(a->store(), 1);
  std::vector<hub::TelemetryMessage> messages;
  for (int n = 0; n < 20; ++n) {
    for (const std::string& device : {in_main, in_other}) {
      hub::TelemetryMessage m;
      m.device_id = device;
      m.enqueued_ms = 1'000 + n;
      const std::string body = "secret-body-" + device + "-" + std::to_string(n);
      ByteSpan bytes = AsBytes(body);
      m.body = Bytes(bytes.begin(), bytes.end());
      messages.push_back(std::move(m));
    }
  }
  COFFRE_ASSERT_OK(coffre::testing::StoreThroughIngest(a->ingest(), std::move(messages)));
  auto b = std::move(HubService::Start(with_map("node-b")).value());
  for (HubService* node : {a.get(), b.get()}) {
    for (int p : {0, 1}) {
      for (int i = 0; i < 500 && node->store().end_sequence(p) < 20; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));  // b follows a's commits
      }
      auto read = node->store().Read(p, 0, 100, 1 << 20);
      ASSERT_TRUE(read.has_value()) << read.error();
      ASSERT_EQ(read->size(), 20u) << "partition " << p;
      const std::string& device = p == 0 ? in_main : in_other;
      for (size_t n = 0; n < read->size(); ++n) {
        EXPECT_EQ((*read)[n].sequence, n);
        EXPECT_EQ(AsChars((*read)[n].message.body), "secret-body-" + device + "-" + std::to_string(n));
      }
    }
  }
  auto count = [](const std::string& conninfo, int partition) {
    auto db = pgstore::PgConnection::Connect(conninfo).value();
    return db->Exec("SELECT count(*) FROM coffre_records WHERE partition = " +
                    std::to_string(partition)).value().rows.at(0).at(0);
  };
  EXPECT_EQ(count(server_.conninfo(), 0), "20");
  EXPECT_EQ(count(server_.conninfo(), 1), "0");
  EXPECT_EQ(count(other.conninfo(), 1), "20");
  auto db = pgstore::PgConnection::Connect(other.conninfo()).value();
  std::string stored;
  pgstore::PgRows records = db->Exec("SELECT encode(record, 'escape') FROM coffre_records").value();
  for (auto& row : records.rows) stored += row[0];
  EXPECT_EQ(stored.find("secret-body"), std::string::npos) << "ciphertext only";
}

// The nodes together allow the hub's device-to-cloud budget: each takes its share of the
// nodes that run, and the whole of it again once it runs alone.
TEST_F(HubClusterStoreTest, RunningNodesShareTheHubsBudgets) {
  // The share `hub` takes once it has counted `nodes` (it reads them every 3 s; 10 s at most).
  auto until = [](HubService& hub, size_t nodes) {
    for (int i = 0; i < 1000 && hub.quotas().sharing_nodes() != nodes; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return hub.quotas().sharing_nodes();
  };
  auto a = std::move(HubService::Start(Node("node-a")).value());
  EXPECT_EQ(until(*a, 1), 1u);
  auto b = std::move(HubService::Start(Node("node-b")).value());
  EXPECT_EQ(until(*a, 2), 2u);
  EXPECT_EQ(until(*b, 2), 2u);
  b.reset();
  EXPECT_EQ(until(*a, 1), 1u);
}

TEST_F(HubClusterStoreTest, ANodeWithAnotherHubNameOrPartitionCountIsRefusedWithBoth) {
  { auto a = std::move(HubService::Start(Node("node-a")).value()); }
  HubOptions renamed = Node("node-b");
  renamed.host_names.insert(renamed.host_names.begin(), "other-hub.example");
  auto b = HubService::Start(renamed);
  ASSERT_FALSE(b.has_value());
  EXPECT_EQ(b.error().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(b.error().message().find("started as 'other-hub.example'"), std::string::npos)
      << b.error().message();
  HubOptions more = Node("node-b");
  more.telemetry.partitions = 3;
  b = HubService::Start(more);
  ASSERT_FALSE(b.has_value());
  EXPECT_NE(b.error().message().find("has 2 telemetry partitions; this node was started with 3"),
            std::string::npos) << b.error().message();
  COFFRE_EXPECT_OK(HubService::Start(Node("node-b")).status());  // the same: served
}

TEST_F(HubClusterStoreTest, AServerThatDoesNotWaitForAStandbyIsRefusedByDefault) {
  HubOptions o = Node("node-a");
  o.postgres_relaxed_durability = false;
  auto started = HubService::Start(o);
  ASSERT_FALSE(started.has_value());
  EXPECT_EQ(started.error().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(started.error().message().find("synchronous_standby_names"), std::string::npos)
      << started.error().message();
}

}  // namespace
}  // namespace coffre::hubservice
