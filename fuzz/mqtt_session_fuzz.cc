// Fuzzes a device's MQTT session after a good CONNECT: any bytes, cut anywhere, must give
// replies that decode, or a close; never a crash, and nothing acknowledged that was not stored.
#include <cstdint>

#include "fuzz_session_host.h"

using namespace coffre;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::SessionHost host;
  mqtt::Session session(host);
  fuzz::CheckReplies(session.OnBytes(fuzz::GoodConnect()).to_send);
  // Feed the input in two pieces, split at a point the input itself chooses.
  ByteSpan in(reinterpret_cast<const std::byte*>(data), size);
  size_t cut = size > 0 ? static_cast<size_t>(data[0]) % (size + 1) : 0;
  for (ByteSpan part : {in.first(cut), in.subspan(cut)}) {
    auto out = session.OnBytes(part);
    fuzz::CheckReplies(out.to_send);
    if (out.close) return 0;
  }
  for (uint16_t id : host.pending) fuzz::CheckReplies(session.OnDurable(id, Status::Ok()).to_send);
  fuzz::CheckReplies(session.OnTick().to_send);
  return 0;
}
