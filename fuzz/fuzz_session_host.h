#pragma once
// What the MQTT fuzz targets put behind a Session: every CONNECT authenticates as dev-01 until
// 2027, stored messages are remembered for OnDurable, and a fixed clock. Plus the check every
// target makes of what the session sends: a sequence of whole, decodable packets.

#include <vector>

#include "common/check.h"
#include "mqtt/codec.h"
#include "mqtt/session.h"

namespace coffre::fuzz {

class SessionHost : public mqtt::SessionHost {
 public:
  Result<hub::AuthenticatedDevice> Authenticate(const hub::DeviceCredentials&) override {
    return hub::AuthenticatedDevice{"dev-01", std::nullopt, 1'800'003'600};
  }
  void SubmitTelemetry(hub::TelemetryMessage, uint16_t packet_id) override {
    if (packet_id != 0) pending.push_back(packet_id);
  }
  void SubmitTwinRequest(const mqtt::IotHubRequest& request, std::string) override {
    twin_requests.push_back(request.rid);
  }
  void SubmitMethodResponse(const std::string&, int, std::string) override {}
  void Subscribed(mqtt::SessionFeature) override {}
  void C2dAcknowledged(const std::string&) override {}
  int64_t NowMs() override { return 1'800'000'000'000; }
  std::vector<uint16_t> pending;
  std::vector<std::string> twin_requests;  // rids, for OnTwinReply
};

inline void CheckReplies(ByteSpan rest) {
  while (!rest.empty()) {
    auto d = mqtt::DecodePacket(rest, 1 << 20);
    COFFRE_CHECK(d.has_value() && d->has_value());
    rest = rest.subspan((*d)->size);
  }
}

// A CONNECT the host accepts.
inline Bytes GoodConnect() {
  mqtt::Connect c;
  c.client_id = "dev-01";
  c.username = "localhost/dev-01/?api-version=2021-04-12";
  c.password = AsBytes("token");
  Bytes connect;
  mqtt::EncodeConnect(connect, c);
  return connect;
}

}  // namespace coffre::fuzz
