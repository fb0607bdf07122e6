#include "mqtt/codec.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace coffre::mqtt {
namespace {

using testing::Hex;
using testing::StatusIs;

constexpr size_t kMax = 256 * 1024 + 1024;

Decoded DecodeOne(ByteSpan in) {
  auto r = DecodePacket(in, kMax);
  EXPECT_TRUE(r.has_value()) << r.status();
  EXPECT_TRUE(r.has_value() && r->has_value()) << "incomplete";
  return r.has_value() && r->has_value() ? std::move(**r) : Decoded{Bare{}, 0};
}

Status DecodeError(ByteSpan in) {
  auto r = DecodePacket(in, kMax);
  return r.has_value() ? Status::Ok() : r.error();
}

// A CONNECT as the Azure IoT device SDK sends it (iothub-protocol.md §3.1).
Bytes SdkConnect() {
  Connect c;
  c.clean_session = false;
  c.keep_alive = 180;
  c.client_id = "dev-01";
  c.username = "localhost/dev-01/?api-version=2021-04-12&DeviceClientType=azure-iot-device%2F1.18.4";
  std::string_view token = "SharedAccessSignature sr=localhost%2Fdevices%2Fdev-01&sig=x&se=1";
  c.password = AsBytes(token);
  Bytes out;
  EncodeConnect(out, c);
  return out;
}

TEST(MqttCodecTest, EncodesTheSpecExamplesByteForByte) {
  Bytes out;
  EncodeConnAck(out, {false, ConnectCode::kNotAuthorized});
  EXPECT_EQ(HexEncode(out), "20020005");
  out.clear();
  EncodePacketIdOnly(out, {PacketType::kPubAck, 0x1234});
  EXPECT_EQ(HexEncode(out), "40021234");
  out.clear();
  EncodeBare(out, {PacketType::kPingResp});
  EXPECT_EQ(HexEncode(out), "d000");
  out.clear();
  EncodeSubAck(out, {7, {1, 0, kSubscriptionFailure}});
  EXPECT_EQ(HexEncode(out), "9005000701" "0080");
  out.clear();
  // A CONNECT with client id "a", keep-alive 60, clean session: §3.1 layout.
  Connect c;
  c.client_id = "a";
  c.keep_alive = 60;
  EncodeConnect(out, c);
  EXPECT_EQ(HexEncode(out), "100d" "00044d515454" "04" "02" "003c" "000161");
}

TEST(MqttCodecTest, ConnectOfTheSdkRoundTrips) {
  Bytes wire = SdkConnect();
  Decoded d = DecodeOne(wire);
  EXPECT_EQ(d.size, wire.size());
  const auto& c = std::get<Connect>(d.packet);
  EXPECT_EQ(c.level, 4);
  EXPECT_FALSE(c.clean_session);
  EXPECT_EQ(c.keep_alive, 180);
  EXPECT_EQ(c.client_id, "dev-01");
  EXPECT_EQ(c.username->substr(0, 17), "localhost/dev-01/");
  EXPECT_EQ(AsChars(*c.password).substr(0, 21), "SharedAccessSignature");
  EXPECT_FALSE(c.will.has_value());
}

TEST(MqttCodecTest, EveryPacketTypeRoundTrips) {
  Bytes payload = ToBytes("{\"temperature\":21.5}");
  std::vector<Packet> packets = {
      Publish{false, 1, false, "devices/dev-01/messages/events/%24.mid=1&a=b", 12085, payload},
      Publish{true, 1, true, "t", 1, {}},
      Publish{false, 0, false, "devices/d/messages/events/", 0, payload},
      PacketIdOnly{PacketType::kPubAck, 46502},
      PacketIdOnly{PacketType::kPubRel, 2},
      PacketIdOnly{PacketType::kUnsubAck, 3},
      Subscribe{9, {{"$iothub/twin/res/#", 0}, {"devices/d/messages/devicebound/#", 1}}},
      SubAck{9, {0, 1}},
      Unsubscribe{10, {"$iothub/methods/POST/#"}},
      ConnAck{true, ConnectCode::kAccepted},
      Bare{PacketType::kPingReq},
      Bare{PacketType::kDisconnect},
  };
  for (const Packet& p : packets) {
    Bytes wire;
    Encode(wire, p);
    Decoded d = DecodeOne(wire);
    EXPECT_EQ(d.size, wire.size());
    Bytes again;
    Encode(again, d.packet);
    EXPECT_EQ(HexEncode(again), HexEncode(wire)) << int(TypeOf(p));
  }
}

TEST(MqttCodecTest, EveryPrefixIsIncompleteAndSeveralPacketsDecodeInOneBuffer) {
  Bytes wire = SdkConnect();
  Publish pub{false, 1, false, "devices/dev-01/messages/events/", 7, AsBytes("hello")};
  EncodePublish(wire, pub);
  EncodeBare(wire, {PacketType::kPingReq});
  size_t first = DecodeOne(wire).size;
  for (size_t n = 0; n < first; ++n) {
    auto r = DecodePacket(ByteSpan(wire).first(n), kMax);
    ASSERT_TRUE(r.has_value()) << n;
    EXPECT_FALSE(r->has_value()) << n;
  }
  std::vector<PacketType> seen;
  ByteSpan rest(wire);
  while (!rest.empty()) {
    Decoded d = DecodeOne(rest);
    seen.push_back(TypeOf(d.packet));
    rest = rest.subspan(d.size);
  }
  EXPECT_EQ(seen, (std::vector<PacketType>{PacketType::kConnect, PacketType::kPublish,
                                            PacketType::kPingReq}));
}

TEST(MqttCodecTest, LargeRemainingLengthsUseSevenBitDigits) {
  Bytes payload(200'000, std::byte{'x'});
  Bytes wire;
  EncodePublish(wire, {false, 0, false, "t", 0, payload});
  // 200003 = 67 + 26 * 128 + 12 * 128^2: digits 0xc3 0x9a 0x0c, low first (§2.2.3).
  EXPECT_EQ(HexEncode(ByteSpan(wire).subspan(1, 3)), "c39a0c");
  EXPECT_EQ(DecodeOne(wire).size, wire.size());
  EXPECT_EQ(std::get<Publish>(DecodeOne(wire).packet).payload.size(), payload.size());
}

TEST(MqttCodecTest, OversizePacketsAreRefusedFromTheHeaderAlone) {
  Bytes wire;
  EncodePublish(wire, {false, 1, false, "t", 1, Bytes(kMax, std::byte{0})});
  wire.resize(10);  // the body has not arrived: the length is enough to refuse
  EXPECT_THAT(DecodeError(wire), StatusIs(StatusCode::kResourceExhausted));
}

TEST(MqttCodecTest, ProtocolViolationsAreRefused) {
  auto bad = [](std::string_view hex) { return DecodeError(Hex(hex)); };
  EXPECT_THAT(bad("0000"), StatusIs(StatusCode::kInvalidArgument));          // type 0
  EXPECT_THAT(bad("f000"), StatusIs(StatusCode::kInvalidArgument));          // type 15
  EXPECT_THAT(bad("c100"), StatusIs(StatusCode::kInvalidArgument));          // PINGREQ flags
  EXPECT_THAT(bad("8000"), StatusIs(StatusCode::kInvalidArgument));          // SUBSCRIBE flags 0
  EXPECT_THAT(bad("c0ffffffff7f"), StatusIs(StatusCode::kInvalidArgument));  // 5-byte length
  EXPECT_THAT(bad("c00100"), StatusIs(StatusCode::kInvalidArgument));        // PINGREQ w/ body
  EXPECT_THAT(bad("3600000174"), StatusIs(StatusCode::kInvalidArgument));    // QoS 3
  EXPECT_THAT(bad("38030001" "74"), StatusIs(StatusCode::kInvalidArgument));   // QoS0 + DUP
  EXPECT_THAT(bad("3205000174" "0000"), StatusIs(StatusCode::kInvalidArgument));  // id 0
  EXPECT_THAT(bad("300400022b2b"), StatusIs(StatusCode::kInvalidArgument));  // '+' in topic
  EXPECT_THAT(bad("3003000000"), StatusIs(StatusCode::kInvalidArgument));    // empty topic
  EXPECT_THAT(bad("30050003c3287a"), StatusIs(StatusCode::kInvalidArgument));  // bad UTF-8
  EXPECT_THAT(bad("3005000361007a"), StatusIs(StatusCode::kInvalidArgument));  // U+0000
  EXPECT_THAT(bad("3003000561"), StatusIs(StatusCode::kInvalidArgument));    // string too long
  EXPECT_THAT(bad("82020001"), StatusIs(StatusCode::kInvalidArgument));      // no filters
  EXPECT_THAT(bad("820600010001" "2303"), StatusIs(StatusCode::kInvalidArgument));  // QoS 3
  EXPECT_THAT(bad("8207000100026123" "00"), StatusIs(StatusCode::kInvalidArgument));  // "a#"
  EXPECT_THAT(bad("400100"), StatusIs(StatusCode::kInvalidArgument));        // PUBACK short
  // CONNECT: reserved flag, password without user name, will QoS without will.
  EXPECT_THAT(bad("100d00044d5154540403003c000161"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(bad("100d00044d5154540442003c000161"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(bad("100d00044d515454040a003c000161"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(bad("100d00044d515458040a003c000161"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(bad("100e00044d5154540402003c00016100"), StatusIs(StatusCode::kInvalidArgument));
}

TEST(MqttCodecTest, ProtocolLevelIsReportedForTheServerToAnswer) {
  // Level 3 (MQTT 3.1, "MQIsdp") decodes; the session answers CONNACK 1, as Azure does.
  Connect c;
  c.protocol_name = "MQIsdp";
  c.level = 3;
  c.client_id = "d";
  Bytes wire;
  EncodeConnect(wire, c);
  EXPECT_EQ(std::get<Connect>(DecodeOne(wire).packet).level, 3);
}

}  // namespace
}  // namespace coffre::mqtt
