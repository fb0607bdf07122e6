// Credit abuse against the hub's AMQP server, through the real thing (a whole hub in process,
// TLS, Proton on both sides), with a client that writes the frames Proton would not:
// - transfers past the link credit on a device's telemetry link, the service's C2D link and
//   $cbs: the link is detached with amqp:link:transfer-limit-exceeded, the connection lives on
//   and other clients are served; a client that keeps sending on the detached link is closed;
// - receivers that grant 4,294,967,295 credit (an Event Hubs partition receiver with megabytes of
//   events, a device's C2D receiver): they get their messages, in order, while the hub's unsent
//   output for the connection stays near its 1 MB pause (a client that does not read its socket,
//   one that keeps its session window shut) and other clients are served meanwhile.
#include <gtest/gtest.h>

#include <proton/annotation_key.hpp>
#include <proton/message.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "amqp/amqp_test_client.h"
#include "amqp/proton_util.h"
#include "amqp/server.h"
#include "common/bytes.h"
#include "common/encoding.h"
#include "crypto/secret_bytes.h"
#include "hub/sas_token.h"
#include "hubservice/hub_service.h"
#include "hubservice/ingest_send.h"
#include "hubservice/test_hub_options.h"
#include "net/certificates.h"
#include "test_util.h"

namespace coffre::amqp {
namespace {

using coffre::testing::AmqpTestClient;
using coffre::testing::SecondsSince;
using coffre::testing::TestClock;
using coffre::testing::TransferFrame;

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr const char* kTransferLimit = "amqp:link:transfer-limit-exceeded";

// What the hub may still send, from Proton's counts (which wrap at 2^32).
TEST(AvailableCreditTest, AllTheCreditThereIsAndALoweredGrant) {
  EXPECT_EQ(AvailableCredit(100, 0), 100u);
  EXPECT_EQ(AvailableCredit(60, 40), 60u);  // a grant of 100, 40 sent and not framed
  EXPECT_EQ(AvailableCredit(0, 100), 0u);
  // 4,294,967,295 granted: Proton's int reads -1; then 5 sent, not framed yet.
  EXPECT_EQ(AvailableCredit(-1, 0), 4'294'967'295u);
  EXPECT_EQ(AvailableCredit(-6, 5), 4'294'967'290u);
  // 100 granted and sent, then the client lowers its grant to 10: Proton's credit reads -90.
  EXPECT_EQ(AvailableCredit(-90, 100), 0u);
  EXPECT_EQ(AvailableCredit(-1, 1), 0u);  // a grant of 0 with one queued
}

class AmqpCreditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    certs_ = std::move(net::EnsureStackCertificates(dir_.path() / "tls", {}).value());
    hubservice::HubOptions o = coffre::testing::TestHubOptions(dir_.path() / "hub", certs_);
    o.bootstrap_devices = {"dev-01", "dev-02"};
    o.telemetry.partitions = 2;
    o.amqp.threads = 2;
    hub_ = std::move(hubservice::HubService::Start(std::move(o)).value());
  }

  std::unique_ptr<AmqpTestClient> Client(uint32_t max_frame = 0, int receive_buffer = 0) {
    return std::make_unique<AmqpTestClient>(hub_->amqp_port(), certs_.ca_file, max_frame,
                                            receive_buffer);
  }
  std::string DeviceToken(const std::string& device) {
    std::string key = hub_->registry().Get(device).value().primary_key;
    auto secret = crypto::SecretBytes::CopyOf(*Base64Decode(key)).value();
    return *hub::MakeSasToken("localhost/devices/" + device, secret, Now() + 3600);
  }
  std::string ServiceToken() {
    std::string key = hub_->policies().Get("service").value().primary_key;
    auto secret = crypto::SecretBytes::CopyOf(*Base64Decode(key)).value();
    return *hub::MakeSasToken("localhost", secret, Now() + 3600, "service");
  }
  static std::vector<char> Encoded(const proton::message& m) {
    std::vector<char> bytes;
    m.encode(bytes);
    return bytes;
  }
  // `count` events of `size` bytes in `partition`, durable; the body starts with the index.
  void Fill(int partition, int count, size_t size) {
    std::vector<hub::TelemetryMessage> messages;
    std::string device = coffre::testing::DeviceInPartition(hub_->store(), partition);
    for (int i = 0; i < count; ++i) {
      hub::TelemetryMessage m;
      m.device_id = device;
      m.enqueued_ms = Now() * 1000;
      std::string body = std::to_string(i) + ":" + std::string(size, 'e');
      m.body = ToBytes(body);
      messages.push_back(std::move(m));
    }
    COFFRE_ASSERT_OK(coffre::testing::StoreThroughIngest(hub_->ingest(), std::move(messages)));
  }
  // A device sends one telemetry message within its credit on a new link: accepted?
  static bool SendsTelemetry(AmqpTestClient& c, const std::string& device, const std::string& name) {
    pn_link_t* l = c.Sender(c.Begin(), name, "/devices/" + device + "/messages/events");
    proton::message m;
    m.body(std::string("hello"));
    m.inferred(false);
    pn_delivery_t* d = c.Send(l, m);
    return c.Until([&] { return pn_delivery_remote_state(d) != 0; }) &&
           pn_delivery_remote_state(d) == PN_ACCEPTED;
  }
  // The events of a partition receiver, in the order they arrive: their x-opt-sequence-number.
  static void Drain(AmqpTestClient& c, pn_link_t* r, std::vector<int64_t>& seen) {
    while (std::optional<proton::message> m = c.Take(r)) {
      proton::value v = m->message_annotations().get(proton::annotation_key("x-opt-sequence-number"));
      seen.push_back(proton::coerce<int64_t>(v));
    }
  }
  // A new client reads the first 100 events of `partition` (in order?) while a greedy one holds
  // the hub's output; how long it took is printed and bounded far above what it takes (0.03 s),
  // far below a client held up behind the greedy one.
  void AnotherClientIsServed(int partition, const char* beside) {
    auto start = TestClock::now();
    auto other = Client();
    ASSERT_EQ(other->PutToken("localhost", ServiceToken()), 200);
    pn_link_t* o = other->Receiver(other->Begin(), "other",
                                   "localhost/ConsumerGroups/$Default/Partitions/" + std::to_string(partition),
                                   "amqp.annotation.x-opt-offset > '-1'");
    pn_link_flow(o, 100);
    std::vector<int64_t> seen;
    ASSERT_TRUE(other->Until([&] {
      Drain(*other, o, seen);
      return seen.size() == 100;
    }));
    double served = SecondsSince(start);
    std::printf("another client served in %.3f s %s\n", served, beside);
    EXPECT_LT(served, 5.0);
    EXPECT_TRUE(InOrder(seen, 100));
  }
  // The most output one connection held unsent: the pause (1 MB), a batch and framing at most,
  // and at least the pause (the greedy client did fill it).
  void ExpectPausedAtTheBound() {
    size_t peak = hub_->amqp().peak_unsent_bytes();
    std::printf("peak unsent output of one connection: %zu bytes\n", peak);
    EXPECT_GE(peak, size_t{1} << 20);
    EXPECT_LT(peak, size_t{5} << 19);  // 2.5 MB
  }
  // A greedy receiver, let go, takes every event of its partition (after those in `seen`), in
  // order.
  static void TakesEverythingInOrder(AmqpTestClient& c, pn_link_t* r, std::vector<int64_t>& seen,
                                     int count) {
    ASSERT_TRUE(c.Until([&] {
      Drain(c, r, seen);
      return seen.size() >= static_cast<size_t>(count);
    }, std::chrono::seconds(60)));
    EXPECT_TRUE(InOrder(seen, count));
  }
  static bool InOrder(const std::vector<int64_t>& seen, int64_t count) {
    if (static_cast<int64_t>(seen.size()) != count) return false;
    for (int64_t i = 0; i < count; ++i) {
      if (seen[static_cast<size_t>(i)] != i) return false;
    }
    return true;
  }

  coffre::testing::TempDir dir_;
  net::StackCertificates certs_;
  std::unique_ptr<hubservice::HubService> hub_;
};

TEST_F(AmqpCreditTest, TransfersPastTheCreditDetachTheLinkAndNothingElse) {
  auto bystander = Client();
  ASSERT_EQ(bystander->PutToken("localhost/devices/dev-02", DeviceToken("dev-02")), 200);

  auto abuser = Client();
  ASSERT_EQ(abuser->PutToken("localhost/devices/dev-01", DeviceToken("dev-01")), 200);
  ASSERT_EQ(abuser->PutToken("localhost", ServiceToken()), 200);
  proton::message telemetry;
  telemetry.body(std::string("over the limit"));
  for (const std::string address : {"/devices/dev-01/messages/events", "/messages/devicebound", "$cbs"}) {
    SCOPED_TRACE(address);
    uint16_t channel = 0;
    pn_link_t* l = abuser->Sender(abuser->Begin(0, &channel), "raw-" + address, address);
    ASSERT_TRUE(abuser->Until([&] { return AmqpTestClient::RemoteOpen(l) && pn_link_credit(l) > 0; }));
    int credit = pn_link_credit(l);
    EXPECT_EQ(credit, 100);
    // The link's first transfers, in one write: its credit and 100 more.
    std::string burst;
    std::vector<char> payload = Encoded(telemetry);
    for (uint32_t id = 0; id < static_cast<uint32_t>(credit) + 100; ++id) {
      burst += TransferFrame(channel, 0, id, payload);
    }
    abuser->WriteRaw(burst);
    ASSERT_TRUE(abuser->Until([&] { return AmqpTestClient::RemoteClosed(l); }));
    EXPECT_EQ(AmqpTestClient::ConditionOf(pn_link_remote_condition(l)), kTransferLimit);
  }
  // Only the links: the same connection sends within its credit, and the other client too.
  EXPECT_TRUE(abuser->alive());
  EXPECT_TRUE(SendsTelemetry(*abuser, "dev-01", "polite"));
  EXPECT_TRUE(SendsTelemetry(*bystander, "dev-02", "bystander"));
}

TEST_F(AmqpCreditTest, AClientThatGoesOnSendingOnTheDetachedLinkIsClosed) {
  auto abuser = Client();
  ASSERT_EQ(abuser->PutToken("localhost/devices/dev-01", DeviceToken("dev-01")), 200);
  abuser->AnswerCloses(false);
  uint16_t channel = 0;
  pn_link_t* l = abuser->Sender(abuser->Begin(0, &channel), "raw", "/devices/dev-01/messages/events");
  ASSERT_TRUE(abuser->Until([&] { return pn_link_credit(l) > 0; }));
  proton::message m;
  m.body(std::string("x"));
  std::vector<char> payload = Encoded(m);
  uint32_t id = 0;
  std::string burst;
  for (; id < 300; ++id) burst += TransferFrame(channel, 0, id, payload);
  abuser->WriteRaw(burst);
  ASSERT_TRUE(abuser->Until([&] { return AmqpTestClient::RemoteClosed(l); }));
  // It does not answer the detach and goes on: at most three windows more, then the connection.
  for (int round = 0; round < 20 && abuser->alive(); ++round) {
    burst.clear();
    for (uint32_t end = id + 200; id < end; ++id) burst += TransferFrame(channel, 0, id, payload);
    abuser->WriteRaw(burst);
    abuser->PumpFor(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(abuser->Until([&] {
    return (pn_connection_state(abuser->connection()) & PN_REMOTE_CLOSED) || !abuser->alive();
  }));
  EXPECT_EQ(AmqpTestClient::ConditionOf(pn_connection_remote_condition(abuser->connection())),
            kTransferLimit);
  auto next = Client();
  ASSERT_EQ(next->PutToken("localhost/devices/dev-02", DeviceToken("dev-02")), 200);
  EXPECT_TRUE(SendsTelemetry(*next, "dev-02", "next"));
}

// A receiver with all the credit there is that does not read its socket for a while: the hub
// pauses at its output bound, another client is served meanwhile, and the greedy one then gets
// every event in order.
TEST_F(AmqpCreditTest, AGreedyReceiverThatStopsReadingIsPausedNotBuffered) {
  constexpr int kEvents = 3000;  // 12 MB: more than the socket buffers between the two hold
  Fill(0, kEvents, 4000);
  auto greedy = Client(0, 64 * 1024);
  ASSERT_EQ(greedy->PutToken("localhost", ServiceToken()), 200);
  pn_link_t* r = greedy->Receiver(greedy->Begin(), "greedy", "localhost/ConsumerGroups/$Default/Partitions/0",
                                  "amqp.annotation.x-opt-offset > '-1'");
  pn_link_flow(r, -1);  // 4,294,967,295
  std::vector<int64_t> seen;
  ASSERT_TRUE(greedy->Until([&] {
    Drain(*greedy, r, seen);
    return !seen.empty();
  }));
  // The greedy client stops reading: the hub fills the socket, then its own output to the
  // pause; another client reads 100 events of the same partition meanwhile.
  ASSERT_TRUE(coffre::testing::WaitFor([&] { return hub_->amqp().peak_unsent_bytes() >= (1u << 20); }));
  AnotherClientIsServed(0, "while the greedy one did not read");
  ExpectPausedAtTheBound();
  TakesEverythingInOrder(*greedy, r, seen, kEvents);
}

// The same with a client whose session window is shut (it grants link credit but takes no
// transfers): what the node sends waits in Proton's session, and counts against the bound too.
TEST_F(AmqpCreditTest, AGreedyReceiverWithAShutSessionWindowIsPausedNotBuffered) {
  constexpr int kEvents = 1500;  // 6 MB
  Fill(1, kEvents, 4000);
  // 64 KB frames and a 128 KB session capacity: the window closes after about 64 KB unread.
  auto greedy = Client(64 * 1024);
  ASSERT_EQ(greedy->PutToken("localhost", ServiceToken()), 200);
  pn_link_t* r = greedy->Receiver(greedy->Begin(128 * 1024), "greedy",
                                  "localhost/ConsumerGroups/$Default/Partitions/1",
                                  "amqp.annotation.x-opt-offset > '-1'");
  pn_link_flow(r, -1);  // 4,294,967,295
  // It reads frames and takes no message; the hub sends until its output reaches the pause.
  ASSERT_TRUE(greedy->Until([&] { return hub_->amqp().peak_unsent_bytes() >= (1u << 20); }));
  AnotherClientIsServed(1, "beside the shut window");
  ExpectPausedAtTheBound();
  // It opens its window (no session flow control) and takes everything, in order.
  pn_session_set_incoming_capacity(pn_link_session(r), 0);
  std::vector<int64_t> seen;
  TakesEverythingInOrder(*greedy, r, seen, kEvents);
}

// A device's C2D receiver with all the credit there is gets its message (Proton reads that
// credit as -1 through sender::credit()).
TEST_F(AmqpCreditTest, AC2dReceiverWithAllTheCreditGetsItsMessages) {
  auto device = Client();
  ASSERT_EQ(device->PutToken("localhost/devices/dev-01", DeviceToken("dev-01")), 200);
  pn_link_t* r = device->Receiver(device->Begin(), "c2d", "/devices/dev-01/messages/devicebound");
  pn_link_flow(r, -1);
  ASSERT_TRUE(device->Until([&] { return AmqpTestClient::RemoteOpen(r); }));

  auto service = Client();
  ASSERT_EQ(service->PutToken("localhost", ServiceToken()), 200);
  pn_link_t* s = service->Sender(service->Begin(), "c2d-sender", "/messages/devicebound");
  for (int i = 0; i < 3; ++i) {
    proton::message m;
    m.id(proton::message_id("c2d-" + std::to_string(i)));
    m.to("/devices/dev-01/messages/devicebound");
    m.body(proton::binary("command " + std::to_string(i)));
    pn_delivery_t* d = service->Send(s, m);
    ASSERT_TRUE(service->Until([&] { return pn_delivery_remote_state(d) != 0; }));
    ASSERT_EQ(pn_delivery_remote_state(d), PN_ACCEPTED);
  }
  std::vector<std::string> ids;
  ASSERT_TRUE(device->Until([&] {
    while (std::optional<proton::message> m = device->Take(r)) ids.push_back(IdText(m->id()));
    return ids.size() == 3;
  }));
  EXPECT_EQ(ids, (std::vector<std::string>{"c2d-0", "c2d-1", "c2d-2"}));
}

}  // namespace
}  // namespace coffre::amqp
