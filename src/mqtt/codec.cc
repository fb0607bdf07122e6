#include "mqtt/codec.h"

#include "common/utf8.h"

namespace coffre::mqtt {
namespace {

Status Violation(std::string why) { return InvalidArgument("MQTT protocol violation: " + why); }

// A cursor over one packet's variable header and payload.
class Reader {
 public:
  explicit Reader(ByteSpan body) : body_(body) {}

  size_t left() const { return body_.size() - pos_; }

  Result<uint8_t> U8() {
    if (left() < 1) return Violation("packet ends early");
    return static_cast<uint8_t>(body_[pos_++]);
  }
  Result<uint16_t> U16() {
    if (left() < 2) return Violation("packet ends early");
    uint16_t v = GetU16(body_.data() + pos_);
    pos_ += 2;
    return v;
  }
  Result<ByteSpan> Binary() {
    COFFRE_ASSIGN_OR_RETURN(uint16_t n, U16());
    if (left() < n) return Violation("a length-prefixed field runs past the packet");
    ByteSpan out = body_.subspan(pos_, n);
    pos_ += n;
    return out;
  }
  // A UTF-8 string (§1.5.3): well-formed, no U+0000.
  Result<std::string_view> String() {
    COFFRE_ASSIGN_OR_RETURN(ByteSpan raw, Binary());
    std::string_view s = AsChars(raw);
    if (!IsValidUtf8(s, /*allow_nul=*/false)) return Violation("a string is not valid UTF-8");
    return s;
  }
  ByteSpan Rest() {
    ByteSpan out = body_.subspan(pos_);
    pos_ = body_.size();
    return out;
  }

 private:
  ByteSpan body_;
  size_t pos_ = 0;
};

bool HasWildcard(std::string_view topic) {
  return topic.find_first_of("+#") != std::string_view::npos;
}

// §4.7.1: '#' only last and alone in its level; '+' alone in its level.
bool ValidTopicFilter(std::string_view f) {
  if (f.empty()) return false;
  for (size_t i = 0; i < f.size(); ++i) {
    bool level_start = i == 0 || f[i - 1] == '/';
    bool level_end = i + 1 == f.size() || f[i + 1] == '/';
    if (f[i] == '#' && !(level_start && i + 1 == f.size())) return false;
    if (f[i] == '+' && !(level_start && level_end)) return false;
  }
  return true;
}

Result<Packet> DecodeConnect(Reader& r) {
  Connect c;
  COFFRE_ASSIGN_OR_RETURN(c.protocol_name, r.String());
  COFFRE_ASSIGN_OR_RETURN(c.level, r.U8());
  if (c.protocol_name != "MQTT" && c.protocol_name != "MQIsdp") {
    return Violation("unknown protocol name");
  }
  COFFRE_ASSIGN_OR_RETURN(uint8_t flags, r.U8());
  if (flags & 0x01) return Violation("CONNECT reserved flag is set");
  c.clean_session = flags & 0x02;
  bool will = flags & 0x04;
  uint8_t will_qos = (flags >> 3) & 0x03;
  bool will_retain = flags & 0x20;
  bool password = flags & 0x40;
  bool username = flags & 0x80;
  if (!will && (will_qos != 0 || will_retain)) return Violation("will QoS or retain without will");
  if (will_qos > 2) return Violation("will QoS 3");
  if (password && !username) return Violation("password without user name");
  COFFRE_ASSIGN_OR_RETURN(c.keep_alive, r.U16());
  COFFRE_ASSIGN_OR_RETURN(c.client_id, r.String());
  if (will) {
    Will w;
    COFFRE_ASSIGN_OR_RETURN(w.topic, r.String());
    COFFRE_ASSIGN_OR_RETURN(w.payload, r.Binary());
    if (w.topic.empty() || HasWildcard(w.topic)) return Violation("bad will topic");
    w.qos = will_qos;
    w.retain = will_retain;
    c.will = w;
  }
  if (username) {
    COFFRE_ASSIGN_OR_RETURN(c.username, r.String());
  }
  if (password) {
    COFFRE_ASSIGN_OR_RETURN(c.password, r.Binary());
  }
  if (r.left() != 0) return Violation("CONNECT has trailing bytes");
  return Packet(c);
}

Result<Packet> DecodePublish(Reader& r, uint8_t flags) {
  Publish p;
  p.dup = flags & 0x08;
  p.qos = (flags >> 1) & 0x03;
  p.retain = flags & 0x01;
  if (p.qos == 3) return Violation("PUBLISH QoS 3");
  if (p.qos == 0 && p.dup) return Violation("PUBLISH QoS 0 with DUP");
  COFFRE_ASSIGN_OR_RETURN(p.topic, r.String());
  if (p.topic.empty() || HasWildcard(p.topic)) return Violation("bad PUBLISH topic");
  if (p.qos > 0) {
    COFFRE_ASSIGN_OR_RETURN(p.packet_id, r.U16());
    if (p.packet_id == 0) return Violation("packet identifier 0");
  }
  p.payload = r.Rest();
  return Packet(p);
}

Result<Packet> DecodeIdOnly(Reader& r, PacketType type) {
  PacketIdOnly p{type, 0};
  COFFRE_ASSIGN_OR_RETURN(p.packet_id, r.U16());
  if (p.packet_id == 0) return Violation("packet identifier 0");
  if (r.left() != 0) return Violation("trailing bytes");
  return Packet(p);
}

Result<Packet> DecodeSubscribe(Reader& r) {
  Subscribe s;
  COFFRE_ASSIGN_OR_RETURN(s.packet_id, r.U16());
  if (s.packet_id == 0) return Violation("packet identifier 0");
  while (r.left() > 0) {
    COFFRE_ASSIGN_OR_RETURN(std::string_view filter, r.String());
    COFFRE_ASSIGN_OR_RETURN(uint8_t qos, r.U8());
    if (qos > 2) return Violation("SUBSCRIBE requested QoS above 2 or reserved bits set");
    if (!ValidTopicFilter(filter)) return Violation("bad topic filter");
    s.filters.emplace_back(filter, qos);
  }
  if (s.filters.empty()) return Violation("SUBSCRIBE without a topic filter");
  return Packet(std::move(s));
}

Result<Packet> DecodeUnsubscribe(Reader& r) {
  Unsubscribe u;
  COFFRE_ASSIGN_OR_RETURN(u.packet_id, r.U16());
  if (u.packet_id == 0) return Violation("packet identifier 0");
  while (r.left() > 0) {
    COFFRE_ASSIGN_OR_RETURN(std::string_view filter, r.String());
    if (!ValidTopicFilter(filter)) return Violation("bad topic filter");
    u.filters.push_back(filter);
  }
  if (u.filters.empty()) return Violation("UNSUBSCRIBE without a topic filter");
  return Packet(std::move(u));
}

Result<Packet> DecodeSubAck(Reader& r) {
  SubAck s;
  COFFRE_ASSIGN_OR_RETURN(s.packet_id, r.U16());
  while (r.left() > 0) {
    COFFRE_ASSIGN_OR_RETURN(uint8_t code, r.U8());
    if (code > 2 && code != kSubscriptionFailure) return Violation("bad SUBACK return code");
    s.codes.push_back(code);
  }
  return Packet(std::move(s));
}

Result<Packet> DecodeConnAck(Reader& r) {
  COFFRE_ASSIGN_OR_RETURN(uint8_t flags, r.U8());
  COFFRE_ASSIGN_OR_RETURN(uint8_t code, r.U8());
  if ((flags & 0xFE) != 0 || code > 5 || r.left() != 0) return Violation("bad CONNACK");
  return Packet(ConnAck{(flags & 1) != 0, static_cast<ConnectCode>(code)});
}

// The flags each type must carry in the fixed header (§2.2.2); PUBLISH's vary.
bool FlagsValid(PacketType type, uint8_t flags) {
  switch (type) {
    case PacketType::kPublish: return true;
    case PacketType::kPubRel:
    case PacketType::kSubscribe:
    case PacketType::kUnsubscribe: return flags == 0x02;
    default: return flags == 0;
  }
}

void PutHeader(Bytes& out, PacketType type, uint8_t flags, size_t remaining) {
  out.push_back(std::byte((static_cast<uint8_t>(type) << 4) | flags));
  do {
    uint8_t digit = remaining % 128;
    remaining /= 128;
    if (remaining > 0) digit |= 0x80;
    out.push_back(std::byte(digit));
  } while (remaining > 0);
}

void PutU16To(Bytes& out, uint16_t v) {
  out.push_back(std::byte(v >> 8));
  out.push_back(std::byte(v));
}

void PutBinary(Bytes& out, ByteSpan b) {
  PutU16To(out, static_cast<uint16_t>(b.size()));
  out.insert(out.end(), b.begin(), b.end());
}

void PutString(Bytes& out, std::string_view s) { PutBinary(out, AsBytes(s)); }

}  // namespace

PacketType TypeOf(const Packet& packet) {
  struct Visitor {
    PacketType operator()(const Connect&) const { return PacketType::kConnect; }
    PacketType operator()(const ConnAck&) const { return PacketType::kConnAck; }
    PacketType operator()(const Publish&) const { return PacketType::kPublish; }
    PacketType operator()(const PacketIdOnly& p) const { return p.type; }
    PacketType operator()(const Subscribe&) const { return PacketType::kSubscribe; }
    PacketType operator()(const SubAck&) const { return PacketType::kSubAck; }
    PacketType operator()(const Unsubscribe&) const { return PacketType::kUnsubscribe; }
    PacketType operator()(const Bare& b) const { return b.type; }
  };
  return std::visit(Visitor{}, packet);
}

Result<std::optional<Decoded>> DecodePacket(ByteSpan in, size_t max_packet_bytes) {
  if (in.empty()) return std::optional<Decoded>();
  auto first = static_cast<uint8_t>(in[0]);
  uint8_t type_bits = first >> 4;
  uint8_t flags = first & 0x0F;
  if (type_bits == 0 || type_bits == 15) return Violation("reserved packet type");
  auto type = static_cast<PacketType>(type_bits);
  if (!FlagsValid(type, flags)) return Violation("bad fixed-header flags");

  size_t remaining = 0;
  size_t header = 1;
  for (int shift = 0;; shift += 7) {
    if (header >= in.size()) return std::optional<Decoded>();  // length not complete yet
    if (shift > 21) return Violation("remaining length longer than 4 bytes");
    auto digit = static_cast<uint8_t>(in[header++]);
    remaining |= static_cast<size_t>(digit & 0x7F) << shift;
    if ((digit & 0x80) == 0) break;
  }
  if (header + remaining > max_packet_bytes) {
    return ResourceExhausted("MQTT packet of " + std::to_string(header + remaining) +
                             " bytes is over the limit of " + std::to_string(max_packet_bytes));
  }
  if (in.size() < header + remaining) return std::optional<Decoded>();

  Reader r(in.subspan(header, remaining));
  Result<Packet> packet = Violation("unexpected");
  switch (type) {
    case PacketType::kConnect: packet = DecodeConnect(r); break;
    case PacketType::kConnAck: packet = DecodeConnAck(r); break;
    case PacketType::kPublish: packet = DecodePublish(r, flags); break;
    case PacketType::kPubAck:
    case PacketType::kPubRec:
    case PacketType::kPubRel:
    case PacketType::kPubComp:
    case PacketType::kUnsubAck: packet = DecodeIdOnly(r, type); break;
    case PacketType::kSubscribe: packet = DecodeSubscribe(r); break;
    case PacketType::kSubAck: packet = DecodeSubAck(r); break;
    case PacketType::kUnsubscribe: packet = DecodeUnsubscribe(r); break;
    case PacketType::kPingReq:
    case PacketType::kPingResp:
    case PacketType::kDisconnect:
      if (remaining != 0) return Violation("non-empty PINGREQ, PINGRESP or DISCONNECT");
      packet = Packet(Bare{type});
      break;
  }
  if (!packet.has_value()) return packet.error();
  return std::optional<Decoded>(Decoded{std::move(*packet), header + remaining});
}

void EncodeConnect(Bytes& out, const Connect& c) {
  size_t len = 2 + c.protocol_name.size() + 1 + 1 + 2 + 2 + c.client_id.size();
  if (c.will) len += 2 + c.will->topic.size() + 2 + c.will->payload.size();
  if (c.username) len += 2 + c.username->size();
  if (c.password) len += 2 + c.password->size();
  PutHeader(out, PacketType::kConnect, 0, len);
  PutString(out, c.protocol_name);
  out.push_back(std::byte(c.level));
  uint8_t flags = (c.clean_session ? 0x02 : 0) | (c.username ? 0x80 : 0) | (c.password ? 0x40 : 0);
  if (c.will) flags |= 0x04 | (c.will->qos << 3) | (c.will->retain ? 0x20 : 0);
  out.push_back(std::byte(flags));
  PutU16To(out, c.keep_alive);
  PutString(out, c.client_id);
  if (c.will) {
    PutString(out, c.will->topic);
    PutBinary(out, c.will->payload);
  }
  if (c.username) PutString(out, *c.username);
  if (c.password) PutBinary(out, *c.password);
}

void EncodeConnAck(Bytes& out, const ConnAck& p) {
  PutHeader(out, PacketType::kConnAck, 0, 2);
  out.push_back(std::byte(p.session_present ? 1 : 0));
  out.push_back(std::byte(static_cast<uint8_t>(p.code)));
}

void EncodePublish(Bytes& out, const Publish& p) {
  size_t len = 2 + p.topic.size() + (p.qos > 0 ? 2 : 0) + p.payload.size();
  uint8_t flags = (p.dup ? 0x08 : 0) | static_cast<uint8_t>(p.qos << 1) | (p.retain ? 1 : 0);
  PutHeader(out, PacketType::kPublish, flags, len);
  PutString(out, p.topic);
  if (p.qos > 0) PutU16To(out, p.packet_id);
  out.insert(out.end(), p.payload.begin(), p.payload.end());
}

void EncodePacketIdOnly(Bytes& out, const PacketIdOnly& p) {
  PutHeader(out, p.type, p.type == PacketType::kPubRel ? 0x02 : 0, 2);
  PutU16To(out, p.packet_id);
}

void EncodeSubscribe(Bytes& out, const Subscribe& p) {
  size_t len = 2;
  for (const auto& [f, q] : p.filters) len += 2 + f.size() + 1;
  PutHeader(out, PacketType::kSubscribe, 0x02, len);
  PutU16To(out, p.packet_id);
  for (const auto& [f, q] : p.filters) {
    PutString(out, f);
    out.push_back(std::byte(q));
  }
}

void EncodeSubAck(Bytes& out, const SubAck& p) {
  PutHeader(out, PacketType::kSubAck, 0, 2 + p.codes.size());
  PutU16To(out, p.packet_id);
  for (uint8_t c : p.codes) out.push_back(std::byte(c));
}

void EncodeUnsubscribe(Bytes& out, const Unsubscribe& p) {
  size_t len = 2;
  for (auto f : p.filters) len += 2 + f.size();
  PutHeader(out, PacketType::kUnsubscribe, 0x02, len);
  PutU16To(out, p.packet_id);
  for (auto f : p.filters) PutString(out, f);
}

void EncodeBare(Bytes& out, const Bare& p) { PutHeader(out, p.type, 0, 0); }

void Encode(Bytes& out, const Packet& p) {
  std::visit(
      [&out](const auto& packet) {
        using T = std::decay_t<decltype(packet)>;
        if constexpr (std::is_same_v<T, Connect>) EncodeConnect(out, packet);
        else if constexpr (std::is_same_v<T, ConnAck>) EncodeConnAck(out, packet);
        else if constexpr (std::is_same_v<T, Publish>) EncodePublish(out, packet);
        else if constexpr (std::is_same_v<T, PacketIdOnly>) EncodePacketIdOnly(out, packet);
        else if constexpr (std::is_same_v<T, Subscribe>) EncodeSubscribe(out, packet);
        else if constexpr (std::is_same_v<T, SubAck>) EncodeSubAck(out, packet);
        else if constexpr (std::is_same_v<T, Unsubscribe>) EncodeUnsubscribe(out, packet);
        else EncodeBare(out, packet);
      },
      p);
}

}  // namespace coffre::mqtt
