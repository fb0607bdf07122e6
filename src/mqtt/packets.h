#pragma once
// MQTT 3.1.1 control packets as plain values. Decoded packets are views into the buffer they
// were decoded from (no copies on the ingest path): they live as long as that buffer's bytes.
// Wire format: OASIS MQTT 3.1.1 §2-3.

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/bytes.h"

namespace coffre::mqtt {

enum class PacketType : uint8_t {
  kConnect = 1,
  kConnAck = 2,
  kPublish = 3,
  kPubAck = 4,
  kPubRec = 5,
  kPubRel = 6,
  kPubComp = 7,
  kSubscribe = 8,
  kSubAck = 9,
  kUnsubscribe = 10,
  kUnsubAck = 11,
  kPingReq = 12,
  kPingResp = 13,
  kDisconnect = 14,
};

// CONNACK return codes (§3.2.2.3).
enum class ConnectCode : uint8_t {
  kAccepted = 0,
  kBadProtocolVersion = 1,
  kIdentifierRejected = 2,
  kServerUnavailable = 3,
  kBadUsernameOrPassword = 4,
  kNotAuthorized = 5,
};

inline constexpr uint8_t kSubscriptionFailure = 0x80;

struct Will {
  std::string_view topic;
  ByteSpan payload;
  uint8_t qos = 0;
  bool retain = false;
};

struct Connect {
  std::string_view protocol_name = "MQTT";
  uint8_t level = 4;
  bool clean_session = true;
  uint16_t keep_alive = 0;  // seconds; 0: no keep-alive
  std::string_view client_id;
  std::optional<std::string_view> username;
  std::optional<ByteSpan> password;
  std::optional<Will> will;
};

struct ConnAck {
  bool session_present = false;
  ConnectCode code = ConnectCode::kAccepted;
};

struct Publish {
  bool dup = false;
  uint8_t qos = 0;
  bool retain = false;
  std::string_view topic;
  uint16_t packet_id = 0;  // QoS 1 and 2 only
  ByteSpan payload;
};

// PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK: a type and a packet identifier.
struct PacketIdOnly {
  PacketType type = PacketType::kPubAck;
  uint16_t packet_id = 0;
};

struct Subscribe {
  uint16_t packet_id = 0;
  std::vector<std::pair<std::string_view, uint8_t>> filters;  // topic filter, requested QoS
};

struct SubAck {
  uint16_t packet_id = 0;
  std::vector<uint8_t> codes;  // granted QoS, or kSubscriptionFailure
};

struct Unsubscribe {
  uint16_t packet_id = 0;
  std::vector<std::string_view> filters;
};

// PINGREQ, PINGRESP, DISCONNECT.
struct Bare {
  PacketType type = PacketType::kPingReq;
};

using Packet =
    std::variant<Connect, ConnAck, Publish, PacketIdOnly, Subscribe, SubAck, Unsubscribe, Bare>;

PacketType TypeOf(const Packet& packet);

}  // namespace coffre::mqtt
