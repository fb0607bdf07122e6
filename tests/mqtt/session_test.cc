#include "mqtt/session.h"

#include <gtest/gtest.h>

#include "mqtt/codec.h"
#include "test_util.h"

namespace coffre::mqtt {
namespace {

// A host that accepts the password "good" for dev-01 and records what was submitted.
class FakeHost : public SessionHost {
 public:
  Result<hub::AuthenticatedDevice> Authenticate(const hub::DeviceCredentials& c) override {
    if (next_error) return *next_error;
    if (c.client_id != "dev-01") return FailedPrecondition("client id");
    if (!c.password || *c.password != "good") return Unauthenticated("no");
    return hub::AuthenticatedDevice{"dev-01", std::nullopt, expires_at};
  }
  void SubmitTelemetry(hub::TelemetryMessage m, uint16_t packet_id) override {
    submitted.emplace_back(std::move(m), packet_id);
  }
  void SubmitTwinRequest(const IotHubRequest& request, std::string body) override {
    twin_requests.emplace_back(request, std::move(body));
  }
  void SubmitMethodResponse(const std::string& rid, int status, std::string payload) override {
    method_responses.push_back(rid + " " + std::to_string(status) + " " + payload);
  }
  void Subscribed(SessionFeature feature) override { subscribed.push_back(feature); }
  void C2dAcknowledged(const std::string& lock_token) override { acknowledged.push_back(lock_token); }
  int64_t NowMs() override { return now_ms; }

  std::vector<std::pair<IotHubRequest, std::string>> twin_requests;
  std::vector<std::string> method_responses;
  std::vector<SessionFeature> subscribed;
  std::vector<std::string> acknowledged;
  std::optional<Status> next_error;
  std::vector<std::pair<hub::TelemetryMessage, uint16_t>> submitted;
  int64_t now_ms = 1'800'000'000'000;
  int64_t expires_at = 1'800'003'600;
};

Bytes ConnectBytes(std::string_view password = "good", uint8_t level = 4, uint16_t keep_alive = 60) {
  Connect c;
  c.level = level;
  c.clean_session = false;
  c.keep_alive = keep_alive;
  c.client_id = "dev-01";
  c.username = "localhost/dev-01/?api-version=2021-04-12";
  c.password = AsBytes(password);
  Bytes out;
  EncodeConnect(out, c);
  return out;
}

Bytes PublishBytes(std::string_view topic, uint8_t qos, uint16_t id, std::string_view body) {
  Bytes out;
  EncodePublish(out, {false, qos, false, topic, id, AsBytes(body)});
  return out;
}

std::vector<Packet> Replies(const Bytes& bytes, std::vector<Bytes>& storage) {
  storage.push_back(bytes);
  std::vector<Packet> out;
  ByteSpan rest(storage.back());
  while (!rest.empty()) {
    auto d = DecodePacket(rest, 1 << 20);
    EXPECT_TRUE(d.has_value() && d->has_value());
    if (!d.has_value() || !d->has_value()) break;
    out.push_back((*d)->packet);
    rest = rest.subspan((*d)->size);
  }
  return out;
}

class SessionTest : public ::testing::Test {
 protected:
  Session::Output Connected() {
    Session::Output out = session_.OnBytes(ConnectBytes());
    EXPECT_TRUE(session_.connected());
    return out;
  }
  FakeHost host_;
  Session session_{host_};
  std::vector<Bytes> keep_;
};

TEST_F(SessionTest, ConnectAcceptedWithConnackZero) {
  Session::Output out = Connected();
  auto replies = Replies(out.to_send, keep_);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(std::get<ConnAck>(replies[0]).code, ConnectCode::kAccepted);
  EXPECT_FALSE(out.close);
  EXPECT_EQ(session_.device_id(), "dev-01");
}

TEST_F(SessionTest, RefusalsAnswerTheAzureConnackCodeAndClose) {
  struct Case {
    Bytes connect;
    std::optional<Status> host_error;
    ConnectCode code;
  };
  std::vector<Case> cases = {
      {ConnectBytes("bad"), std::nullopt, ConnectCode::kNotAuthorized},
      {ConnectBytes("good", 3), std::nullopt, ConnectCode::kBadProtocolVersion},
      {ConnectBytes(), InvalidArgument("username"), ConnectCode::kBadUsernameOrPassword},
      {ConnectBytes(), FailedPrecondition("client id"), ConnectCode::kIdentifierRejected},
      {ConnectBytes(), Unavailable("keys inaccessible"), ConnectCode::kServerUnavailable},
  };
  for (Case& c : cases) {
    FakeHost host;
    host.next_error = c.host_error;
    Session s(host);
    Session::Output out = s.OnBytes(c.connect);
    auto replies = Replies(out.to_send, keep_);
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(std::get<ConnAck>(replies[0]).code, c.code);
    EXPECT_TRUE(out.close);
    EXPECT_FALSE(s.connected());
  }
}

TEST_F(SessionTest, TelemetryIsSubmittedAndQos1IsAckedOnlyWhenDurable) {
  Connected();
  Bytes in = PublishBytes("devices/dev-01/messages/events/%24.mid=m1&k=v", 1, 42, "{\"t\":1}");
  Bytes qos0 = PublishBytes("devices/dev-01/messages/events/", 0, 0, "x");
  in.insert(in.end(), qos0.begin(), qos0.end());
  Session::Output out = session_.OnBytes(in);
  EXPECT_TRUE(out.to_send.empty()) << "no PUBACK before the message is durable";
  ASSERT_EQ(host_.submitted.size(), 2u);
  EXPECT_EQ(host_.submitted[0].second, 42);
  EXPECT_EQ(host_.submitted[1].second, 0);
  const hub::TelemetryMessage& m = host_.submitted[0].first;
  EXPECT_EQ(m.device_id, "dev-01");
  EXPECT_EQ(*m.properties.system.message_id, "m1");
  EXPECT_EQ(m.properties.application[0].first, "k");
  EXPECT_EQ(AsChars(m.body), "{\"t\":1}");
  EXPECT_EQ(m.enqueued_ms, host_.now_ms);
  Session::Output ack = session_.OnDurable(42, Status::Ok());
  auto replies = Replies(ack.to_send, keep_);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(std::get<PacketIdOnly>(replies[0]).packet_id, 42);
  EXPECT_TRUE(session_.OnDurable(43, Internal("disk full")).close);
}

TEST_F(SessionTest, PacketsSplitAnywhereAndRepliesOfOneReadAreCoalesced) {
  Bytes all = ConnectBytes();
  Bytes ping;
  EncodeBare(ping, {PacketType::kPingReq});
  for (int i = 0; i < 3; ++i) all.insert(all.end(), ping.begin(), ping.end());
  Bytes replies_bytes;
  for (std::byte b : all) {  // one byte at a time
    Session::Output out = session_.OnBytes({&b, 1});
    replies_bytes.insert(replies_bytes.end(), out.to_send.begin(), out.to_send.end());
  }
  EXPECT_EQ(Replies(replies_bytes, keep_).size(), 4u);
  Bytes three;
  for (int i = 0; i < 3; ++i) three.insert(three.end(), ping.begin(), ping.end());
  Session::Output out = session_.OnBytes(three);
  EXPECT_EQ(Replies(out.to_send, keep_).size(), 3u) << "three PINGRESPs in one buffer";
}

TEST_F(SessionTest, ViolationsCloseTheConnection) {
  std::vector<Bytes> bad = {
      PublishBytes("devices/dev-02/messages/events/", 1, 1, "other device"),
      PublishBytes("devices/dev-01/messages/devicebound/", 1, 1, "wrong direction"),
      PublishBytes("devices/dev-01/messages/events/a=%C3%28", 1, 1, "bad bag"),
      PublishBytes("devices/dev-01/messages/events/", 1, 1, std::string(256 * 1024 + 1, 'x')),
      ConnectBytes(),  // a second CONNECT
  };
  Bytes qos2;
  EncodePublish(qos2, {false, 2, false, "devices/dev-01/messages/events/", 9, {}});
  bad.push_back(qos2);
  bad.push_back(testing::Hex("f000"));  // reserved packet type
  for (const Bytes& b : bad) {
    FakeHost host;
    Session s(host);
    s.OnBytes(ConnectBytes());
    Session::Output out = s.OnBytes(b);
    EXPECT_TRUE(out.close) << out.reason;
    EXPECT_FALSE(out.reason.empty());
    EXPECT_TRUE(host.submitted.empty());
  }
  // Anything before CONNECT.
  FakeHost host;
  Session s(host);
  EXPECT_TRUE(s.OnBytes(PublishBytes("devices/dev-01/messages/events/", 0, 0, "x")).close);
}

TEST_F(SessionTest, RetainIsKeptAsAPropertyNotStored) {
  Connected();
  Bytes in;
  EncodePublish(in, {false, 0, true, "devices/dev-01/messages/events/", 0, AsBytes("r")});
  session_.OnBytes(in);
  ASSERT_EQ(host_.submitted.size(), 1u);
  EXPECT_EQ(host_.submitted[0].first.properties.application.back(),
            (std::pair<std::string, std::string>{"mqtt-retain", "true"}));
}

TEST_F(SessionTest, SubscriptionsToIotHubTopicsAreGrantedAtMostQos1) {
  Connected();
  Bytes sub;
  EncodeSubscribe(sub, {7,
                        {{"devices/dev-01/messages/devicebound/#", 1},
                         {"$iothub/twin/res/#", 0},
                         {"$iothub/methods/POST/#", 2},
                         {"devices/dev-02/messages/devicebound/#", 1},
                         {"#", 0}}});
  auto replies = Replies(session_.OnBytes(sub).to_send, keep_);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(std::get<SubAck>(replies[0]).codes,
            (std::vector<uint8_t>{1, 0, 1, kSubscriptionFailure, kSubscriptionFailure}));
}

TEST_F(SessionTest, KeepAliveIsOneAndAHalfTimesTheClients) {
  session_.OnBytes(ConnectBytes("good", 4, /*keep_alive=*/60));
  host_.now_ms += 90'000;
  EXPECT_FALSE(session_.OnTick().close);
  host_.now_ms += 1;
  EXPECT_TRUE(session_.OnTick().close);
}

TEST_F(SessionTest, TheNextCheckIsWhenTheKeepAliveOrTheTokenWouldEndTheSession) {
  EXPECT_EQ(session_.NextCheckMs(), std::nullopt);  // before CONNECT: the connection's deadline
  session_.OnBytes(ConnectBytes("good", 4, /*keep_alive=*/60));
  int64_t connected_at = host_.now_ms;
  EXPECT_EQ(session_.NextCheckMs(), connected_at + 90'001);
  host_.now_ms = connected_at + 90'000;
  EXPECT_FALSE(session_.OnTick().close);
  // A packet moves the keep-alive on; the check it was armed for then finds nothing to do.
  session_.OnBytes(Bytes{std::byte{0xc0}, std::byte{0x00}});  // PINGREQ
  EXPECT_EQ(session_.NextCheckMs(), host_.now_ms + 90'001);
  host_.now_ms += 90'001;
  EXPECT_TRUE(session_.OnTick().close);
}

TEST_F(SessionTest, WithoutKeepAliveTheNextCheckIsTheTokensExpiry) {
  session_.OnBytes(ConnectBytes("good", 4, /*keep_alive=*/0));
  int64_t due = (host_.expires_at + hub::kSasClockSkewSeconds + 1) * 1000;
  EXPECT_EQ(session_.NextCheckMs(), due);
  host_.now_ms = due - 1;
  EXPECT_FALSE(session_.OnTick().close);
  host_.now_ms = due;
  EXPECT_TRUE(session_.OnTick().close);
}

TEST_F(SessionTest, TheSessionEndsWhenItsTokenExpires) {
  session_.OnBytes(ConnectBytes("good", 4, /*keep_alive=*/0));
  host_.now_ms = (host_.expires_at + 300) * 1000;
  EXPECT_FALSE(session_.OnTick().close);
  host_.now_ms += 1000;
  Session::Output out = session_.OnTick();
  EXPECT_TRUE(out.close);
  EXPECT_NE(out.reason.find("expired"), std::string::npos);
}

TEST_F(SessionTest, DisconnectClosesQuietly) {
  Connected();
  Bytes d;
  EncodeBare(d, {PacketType::kDisconnect});
  Session::Output out = session_.OnBytes(d);
  EXPECT_TRUE(out.close);
  EXPECT_TRUE(out.to_send.empty());
}

}  // namespace
}  // namespace coffre::mqtt

namespace coffre::mqtt {
namespace {

// Before CONNECT only a small packet is accepted: its header alone closes a larger one, so an
// unauthenticated client cannot make the session buffer a message; after CONNECT the full
// message size applies.
TEST(SessionConnectCapTest, APacketAnnouncedOverTheCapBeforeConnectCloses) {
  FakeHost host;
  SessionLimits limits;
  limits.max_connect_bytes = 1024;
  Session s(host, limits);
  Bytes header{std::byte{0x10}, std::byte{0x81}, std::byte{0x08}};  // CONNECT of 1025 bytes
  Session::Output out = s.OnBytes(header);
  EXPECT_TRUE(out.close);
  EXPECT_THAT(out.reason, ::testing::HasSubstr("over the limit of 1024"));

  Session ok(host, limits);
  EXPECT_FALSE(ok.OnBytes(ConnectBytes()).close);
  ASSERT_TRUE(ok.connected());
  Bytes big = PublishBytes("devices/dev-01/messages/events/", 1, 1, std::string(4096, 'x'));
  EXPECT_FALSE(ok.OnBytes(big).close);
  EXPECT_EQ(host.submitted.size(), 1u);
}

class DeviceFeaturesSessionTest : public SessionTest {
 protected:
  void SubscribeAll(bool connect = true) {
    if (connect) Connected();
    Bytes sub;
    EncodeSubscribe(sub, {3,
                          {{"$iothub/twin/res/#", 0},
                           {"$iothub/twin/PATCH/properties/desired/#", 0},
                           {"$iothub/methods/POST/#", 0},
                           {"devices/dev-01/messages/devicebound/#", 1}}});
    session_.OnBytes(sub);
  }
  const Publish& OnlyPublish(const Session::Output& out) {
    auto replies = Replies(out.to_send, keep_);
    EXPECT_EQ(replies.size(), 1u);
    static Publish none;
    if (replies.size() != 1 || !std::holds_alternative<Publish>(replies[0])) return none;
    last_ = std::get<Publish>(replies[0]);
    return last_;
  }
  Publish last_;
};

TEST_F(DeviceFeaturesSessionTest, TwinRequestsGoToTheHostAndRepliesCarryTheRid) {
  SubscribeAll();
  EXPECT_EQ(host_.subscribed.size(), 4u);
  EXPECT_TRUE(session_.OnBytes(PublishBytes("$iothub/twin/GET/?$rid=r1", 0, 0, " ")).to_send.empty());
  session_.OnBytes(PublishBytes("$iothub/twin/PATCH/properties/reported/?$rid=r2", 0, 0, R"({"fw":"2"})"));
  ASSERT_EQ(host_.twin_requests.size(), 2u);
  EXPECT_EQ(host_.twin_requests[0].first.kind, IotHubRequest::Kind::kTwinGet);
  EXPECT_EQ(host_.twin_requests[1].second, R"({"fw":"2"})");
  const Publish& got = OnlyPublish(session_.OnTwinReply("r1", 200, R"({"desired":{}})", std::nullopt));
  EXPECT_EQ(got.topic, "$iothub/twin/res/200/?$rid=r1");
  const Publish& patched = OnlyPublish(session_.OnTwinReply("r2", 204, "", 5));
  EXPECT_EQ(patched.topic, "$iothub/twin/res/204/?$rid=r2&$version=5");
  EXPECT_TRUE(patched.payload.empty());
}

TEST_F(DeviceFeaturesSessionTest, TooManyWaitingTwinRequestsGet429AtOnce) {
  SubscribeAll();
  for (int i = 0; i < 16; ++i) {
    session_.OnBytes(PublishBytes("$iothub/twin/GET/?$rid=" + std::to_string(i), 0, 0, ""));
  }
  const Publish& refused = OnlyPublish(session_.OnBytes(PublishBytes("$iothub/twin/GET/?$rid=x", 0, 0, "")));
  EXPECT_EQ(refused.topic, "$iothub/twin/res/429/?$rid=x");
  EXPECT_NE(std::string(AsChars(refused.payload)).find("errorCode"), std::string::npos);
  EXPECT_EQ(host_.twin_requests.size(), 16u);
}

TEST_F(DeviceFeaturesSessionTest, MethodsDesiredAndC2dFlowOnlyToSubscribedSessions) {
  Connected();
  EXPECT_TRUE(session_.SendMethod("reboot", "1", "null").to_send.empty());
  EXPECT_TRUE(session_.SendDesired(R"({"a":1,"$version":2})", 2).to_send.empty());
  EXPECT_TRUE(session_.SendC2d("devices/dev-01/messages/devicebound/", AsBytes("x"), "lock").to_send.empty());
  SubscribeAll(/*connect=*/false);
  EXPECT_EQ(OnlyPublish(session_.SendMethod("reboot", "1", "null")).topic,
            "$iothub/methods/POST/reboot/?$rid=1");
  EXPECT_EQ(OnlyPublish(session_.SendDesired(R"({"a":1,"$version":2})", 2)).topic,
            "$iothub/twin/PATCH/properties/desired/?$version=2");
  const Publish& c2d = OnlyPublish(session_.SendC2d("devices/dev-01/messages/devicebound/%24.mid=m", AsBytes("hi"), "lock-1"));
  EXPECT_EQ(c2d.qos, 1);
  EXPECT_EQ(session_.UnacknowledgedC2d(), std::vector<std::string>{"lock-1"});
  Bytes puback;
  EncodePacketIdOnly(puback, {PacketType::kPubAck, c2d.packet_id});
  session_.OnBytes(puback);
  EXPECT_EQ(host_.acknowledged, std::vector<std::string>{"lock-1"});
  EXPECT_TRUE(session_.UnacknowledgedC2d().empty());
  session_.OnBytes(puback);  // a duplicate acknowledgement is ignored
  EXPECT_EQ(host_.acknowledged.size(), 1u);
  session_.OnBytes(PublishBytes("$iothub/methods/res/200/?$rid=1", 0, 0, R"({"ok":1})"));
  EXPECT_EQ(host_.method_responses, std::vector<std::string>{R"(1 200 {"ok":1})"});
}

TEST_F(DeviceFeaturesSessionTest, ADeviceMayNotPublishTheHubsTopics) {
  Connected();
  EXPECT_TRUE(session_.OnBytes(PublishBytes("$iothub/methods/POST/x/?$rid=1", 0, 0, "")).close);
}

}  // namespace
}  // namespace coffre::mqtt
