// MqttServer end to end over TLS on a loopback port: the hub's real registry, authenticator,
// sealed telemetry store and group commit behind it.
#include "mqtt/server_fixture.h"

#include <thread>

namespace coffre::mqtt {
namespace {

TEST_F(MqttServerTest, DeviceConnectsSendsTelemetryAndGetsPubackAfterItIsStored) {
  Client c(server_->port(), certs_.ca_file);
  c.Send(ConnectPacket(device_.primary_key));
  auto connack = c.Receive();
  ASSERT_TRUE(connack.has_value());
  EXPECT_EQ(std::get<ConnAck>(*connack).code, ConnectCode::kAccepted);
  Bytes batch;
  for (uint16_t id = 1; id <= 20; ++id) {
    std::string body = "{\"n\":" + std::to_string(id) + "}";
    EncodePublish(batch, {false, 1, false, "devices/dev-01/messages/events/%24.mid=m" + std::to_string(id), id,
                          AsBytes(body)});
  }
  c.Send(batch);
  for (uint16_t id = 1; id <= 20; ++id) {
    auto ack = c.Receive();
    ASSERT_TRUE(ack.has_value());
    EXPECT_EQ(std::get<PacketIdOnly>(*ack).packet_id, id);
  }
  int p = store_->PartitionOf("dev-01");
  auto stored = std::move(store_->Read(p, 0, 100, SIZE_MAX).value());
  ASSERT_EQ(stored.size(), 20u);
  EXPECT_EQ(AsChars(stored[19].message.body), "{\"n\":20}");
  EXPECT_TRUE(registry_->Get("dev-01")->connected);
}

TEST_F(MqttServerTest, BadTokenGetsConnackFiveAClosedConnectionAndALogLine) {
  ::testing::internal::CaptureStderr();
  Client c(server_->port(), certs_.ca_file);
  Bytes other(32, std::byte{3});
  c.Send(ConnectPacket(Base64Encode(other)));
  auto connack = c.Receive();
  ASSERT_TRUE(connack.has_value());
  EXPECT_EQ(std::get<ConnAck>(*connack).code, ConnectCode::kNotAuthorized);
  EXPECT_FALSE(c.Receive().has_value());
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(log, ::testing::HasSubstr("mqtt: 127.0.0.1:"));
  EXPECT_THAT(log, ::testing::HasSubstr("CONNECT of client 'dev-01' refused: UNAUTHENTICATED"));
  EXPECT_THAT(log, ::testing::Not(::testing::HasSubstr(token_))) << "no credentials in the log";
}

TEST_F(MqttServerTest, ANewConnectionOfTheSameDeviceClosesTheOlderOne) {
  Client first(server_->port(), certs_.ca_file);
  first.Send(ConnectPacket(device_.primary_key));
  ASSERT_TRUE(first.Receive().has_value());
  Client second(server_->port(), certs_.ca_file);
  second.Send(ConnectPacket(device_.secondary_key));
  ASSERT_TRUE(second.Receive().has_value());
  EXPECT_FALSE(first.Receive().has_value()) << "the older connection must be closed";
  Bytes ping;
  EncodeBare(ping, {PacketType::kPingReq});
  second.Send(ping);
  auto pong = second.Receive();
  ASSERT_TRUE(pong.has_value());
  EXPECT_EQ(TypeOf(*pong), PacketType::kPingResp);
}

// Keep-alive 1 s: the hub closes a silent session after 1.5 s (MQTT's and Azure's 1.5x), and a
// session that pings stays. The check is one timer per session, armed for the keep-alive's end.
TEST_F(MqttServerTest, ASilentSessionEndsAtOneAndAHalfKeepAlivesAndAPingingOneStays) {
  Client silent(server_->port(), certs_.ca_file);
  silent.Send(ConnectPacket(device_.primary_key, "dev-01", /*keep_alive_s=*/1));
  ASSERT_TRUE(silent.Receive().has_value());
  auto connected = std::chrono::steady_clock::now();
  EXPECT_FALSE(silent.Receive(std::chrono::seconds(20)).has_value());
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - connected).count();
  EXPECT_GE(s, 1.4) << "closed before the keep-alive ran out";
  // Well before the 10 s CONNECT deadline, the timer's previous setting.
  EXPECT_LT(s, 6.0) << "not closed at the keep-alive's end";
  EXPECT_TRUE(WaitFor([&] { return server_->connections() == 0; }));

  Client pinging(server_->port(), certs_.ca_file);
  pinging.Send(ConnectPacket(device_.primary_key, "dev-01", /*keep_alive_s=*/1));
  ASSERT_TRUE(pinging.Receive().has_value());
  Bytes ping;
  EncodeBare(ping, {PacketType::kPingReq});
  for (int i = 0; i < 4; ++i) {  // 2 s, past 1.5 s
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    pinging.Send(ping);
    auto pong = pinging.Receive();
    ASSERT_TRUE(pong.has_value()) << "closed after " << i << " pings";
    EXPECT_EQ(TypeOf(*pong), PacketType::kPingResp);
  }
}

TEST_F(MqttServerTest, MqttOverWebSocketOnTheHttpsPortStoresAndAcknowledges) {
  WsClient c(hub_->https_port(), certs_.ca_file);
  websocket::response_type response;
  ASSERT_FALSE(c.Handshake(response));
  EXPECT_EQ(response[beast::http::field::sec_websocket_protocol], "mqtt");
  // CONNECT and the first PUBLISHes in one WebSocket message, the rest one per message.
  Bytes first = ConnectPacket(device_.primary_key);
  for (uint16_t id = 1; id <= 3; ++id) {
    EncodePublish(first, {false, 1, false, "devices/dev-01/messages/events/", id, AsBytes("ws")});
  }
  c.Send(first);
  auto connack = c.Receive();
  ASSERT_TRUE(connack.has_value());
  EXPECT_EQ(std::get<ConnAck>(*connack).code, ConnectCode::kAccepted);
  for (uint16_t id = 4; id <= 10; ++id) {
    Bytes one;
    EncodePublish(one, {false, 1, false, "devices/dev-01/messages/events/", id, AsBytes("ws")});
    c.Send(one);
  }
  for (uint16_t id = 1; id <= 10; ++id) {
    auto ack = c.Receive();
    ASSERT_TRUE(ack.has_value());
    EXPECT_EQ(std::get<PacketIdOnly>(*ack).packet_id, id);
  }
  auto stored = std::move(store_->Read(store_->PartitionOf("dev-01"), 0, 100, SIZE_MAX).value());
  EXPECT_EQ(stored.size(), 10u);
}

TEST_F(MqttServerTest, WebSocketWithoutTheMqttSubprotocolIsRefused) {
  WsClient c(hub_->https_port(), certs_.ca_file, "");
  websocket::response_type response;
  EXPECT_TRUE(c.Handshake(response));
  EXPECT_EQ(response.result(), beast::http::status::bad_request);
}

TEST_F(MqttServerTest, ATextWebSocketMessageClosesTheConnection) {
  WsClient c(hub_->https_port(), certs_.ca_file);
  websocket::response_type response;
  ASSERT_FALSE(c.Handshake(response));
  c.SendText("CONNECT");
  EXPECT_FALSE(c.Receive().has_value());
}

TEST_F(MqttServerTest, AWebSocketDeviceTakesOverItsTlsConnection) {
  Client tls(server_->port(), certs_.ca_file);
  tls.Send(ConnectPacket(device_.primary_key));
  ASSERT_TRUE(tls.Receive().has_value());
  WsClient ws(hub_->https_port(), certs_.ca_file);
  websocket::response_type response;
  ASSERT_FALSE(ws.Handshake(response));
  ws.Send(ConnectPacket(device_.primary_key));
  auto connack = ws.Receive();
  ASSERT_TRUE(connack.has_value());
  EXPECT_EQ(std::get<ConnAck>(*connack).code, ConnectCode::kAccepted);
  EXPECT_FALSE(tls.Receive().has_value()) << "the older connection must be closed";
}

TEST_F(MqttServerTest, AnX509DeviceConnectsWithItsCertificateThumbprint) {
  Bytes connect;
  auto cert = CreateX509Device(connect);

  Client with_cert(server_->port(), certs_.ca_file, &cert);
  with_cert.Send(connect);
  auto accepted = with_cert.Receive();
  ASSERT_TRUE(accepted.has_value());
  EXPECT_EQ(std::get<ConnAck>(*accepted).code, ConnectCode::kAccepted);

  auto other = std::move(net::GenerateCertificateAuthority("cam-1", 3650).value());
  Client wrong_cert(server_->port(), certs_.ca_file, &other);
  wrong_cert.Send(connect);
  auto refused = wrong_cert.Receive();
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(std::get<ConnAck>(*refused).code, ConnectCode::kNotAuthorized);

  Client no_cert(server_->port(), certs_.ca_file);
  no_cert.Send(connect);
  auto no_password = no_cert.Receive();
  ASSERT_TRUE(no_password.has_value());
  EXPECT_EQ(std::get<ConnAck>(*no_password).code, ConnectCode::kBadUsernameOrPassword);
}

}  // namespace
}  // namespace coffre::mqtt
