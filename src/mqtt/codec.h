#pragma once
// The MQTT 3.1.1 codec: bytes to packets and back, nothing else (no sockets, no sessions).
// DecodePacket reads one packet from the front of a buffer so a session can decode every packet
// of one read in a loop; the encoders append to a buffer so many replies (PUBACKs) go out in
// one write. Every rule of §2-3 that a server must check is checked; a violation is
// INVALID_ARGUMENT with the reason, and the session closes the connection (§4.8).
// Stateless, thread-safe.

#include <optional>

#include "common/result.h"
#include "mqtt/packets.h"

namespace coffre::mqtt {

struct Decoded {
  Packet packet;
  size_t size = 0;  // bytes of `in` the packet took
};

// nullopt: the buffer holds only part of a packet (read more). RESOURCE_EXHAUSTED when the
// packet would exceed `max_packet_bytes` (known from its header alone).
Result<std::optional<Decoded>> DecodePacket(ByteSpan in, size_t max_packet_bytes);

void EncodeConnect(Bytes& out, const Connect& p);
void EncodeConnAck(Bytes& out, const ConnAck& p);
void EncodePublish(Bytes& out, const Publish& p);
void EncodePacketIdOnly(Bytes& out, const PacketIdOnly& p);
void EncodeSubscribe(Bytes& out, const Subscribe& p);
void EncodeSubAck(Bytes& out, const SubAck& p);
void EncodeUnsubscribe(Bytes& out, const Unsubscribe& p);
void EncodeBare(Bytes& out, const Bare& p);
void Encode(Bytes& out, const Packet& p);

// The largest remaining length MQTT can express (§2.2.3).
inline constexpr size_t kMaxRemainingLength = 268'435'455;

}  // namespace coffre::mqtt
