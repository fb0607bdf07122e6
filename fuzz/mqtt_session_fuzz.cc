// Fuzzes a device's MQTT session after a good CONNECT: any bytes, cut anywhere, must give
// replies that decode, or a close; never a crash, and nothing acknowledged that was not stored.
#include <cstdint>

#include "common/check.h"
#include "mqtt/codec.h"
#include "mqtt/session.h"

using namespace coffre;

namespace {

class Host : public mqtt::SessionHost {
 public:
  Result<hub::AuthenticatedDevice> Authenticate(const hub::DeviceCredentials&) override {
    return hub::AuthenticatedDevice{"dev-01", std::nullopt, 1'800'003'600};
  }
  void SubmitTelemetry(hub::TelemetryMessage, uint16_t packet_id) override {
    if (packet_id != 0) pending.push_back(packet_id);
  }
  int64_t NowMs() override { return 1'800'000'000'000; }
  std::vector<uint16_t> pending;
};

void CheckReplies(const Bytes& out) {
  ByteSpan rest(out);
  while (!rest.empty()) {
    auto d = mqtt::DecodePacket(rest, 1 << 20);
    COFFRE_CHECK(d.has_value() && d->has_value());
    rest = rest.subspan((*d)->size);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Host host;
  mqtt::Session session(host);
  mqtt::Connect c;
  c.client_id = "dev-01";
  c.username = "localhost/dev-01/?api-version=2021-04-12";
  c.password = AsBytes("token");
  Bytes connect;
  mqtt::EncodeConnect(connect, c);
  CheckReplies(session.OnBytes(connect).to_send);
  // Feed the input in two pieces, split at a point the input itself chooses.
  ByteSpan in(reinterpret_cast<const std::byte*>(data), size);
  size_t cut = size > 0 ? static_cast<size_t>(data[0]) % (size + 1) : 0;
  for (ByteSpan part : {in.first(cut), in.subspan(cut)}) {
    auto out = session.OnBytes(part);
    CheckReplies(out.to_send);
    if (out.close) return 0;
  }
  for (uint16_t id : host.pending) CheckReplies(session.OnDurable(id, Status::Ok()).to_send);
  CheckReplies(session.OnTick().to_send);
  return 0;
}
