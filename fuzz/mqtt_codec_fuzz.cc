// Fuzzes the MQTT decoder the way a session uses it: decode packet after packet from one
// buffer. Whatever decodes must re-encode to bytes that decode to the same packet.
#include <cstdint>

#include "common/check.h"
#include "mqtt/codec.h"

using namespace coffre;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteSpan rest(reinterpret_cast<const std::byte*>(data), size);
  while (!rest.empty()) {
    auto r = mqtt::DecodePacket(rest, 64 * 1024);
    if (!r.has_value() || !r->has_value()) break;
    Bytes again;
    mqtt::Encode(again, (*r)->packet);
    auto back = mqtt::DecodePacket(again, 64 * 1024 + 16);
    COFFRE_CHECK(back.has_value() && back->has_value() && (*back)->size == again.size());
    Bytes third;
    mqtt::Encode(third, (*back)->packet);
    COFFRE_CHECK(third == again);
    rest = rest.subspan((*r)->size);
  }
  return 0;
}
