#include "mqtt/session.h"

#include "mqtt/codec.h"
#include "hub/sas_token.h"
#include "mqtt/topics.h"

namespace coffre::mqtt {
namespace {

ConnectCode CodeFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument: return ConnectCode::kBadUsernameOrPassword;
    case StatusCode::kFailedPrecondition: return ConnectCode::kIdentifierRejected;
    case StatusCode::kUnauthenticated:
    case StatusCode::kPermissionDenied: return ConnectCode::kNotAuthorized;
    default: return ConnectCode::kServerUnavailable;  // the hub cannot decide now
  }
}

// The topic filters of IoT Hub a device may subscribe to, for `device`.
bool KnownFilter(std::string_view filter, const hub::AuthenticatedDevice& device) {
  if (filter == "$iothub/twin/res/#" || filter == "$iothub/twin/PATCH/properties/desired/#" ||
      filter == "$iothub/methods/POST/#") {
    return true;
  }
  std::string c2d = "devices/" + device.device_id +
                    (device.module_id ? "/modules/" + *device.module_id + "/inputs/#"
                                      : "/messages/devicebound/#");
  return filter == c2d;
}

}  // namespace

void Session::Close(Output& out, std::string reason) {
  state_ = State::kClosed;
  out.close = true;
  if (out.reason.empty()) out.reason = std::move(reason);
}

Session::Output Session::OnBytes(ByteSpan data) {
  Output out;
  if (state_ == State::kClosed) return out;
  pending_.insert(pending_.end(), data.begin(), data.end());
  size_t consumed = 0;
  while (state_ != State::kClosed && consumed < pending_.size()) {
    ByteSpan rest = ByteSpan(pending_).subspan(consumed);
    size_t limit = state_ == State::kAwaitConnect ? limits_.max_connect_bytes : limits_.max_packet_bytes;
    Result<std::optional<Decoded>> decoded = DecodePacket(rest, limit);
    if (!decoded.has_value()) {
      Close(out, decoded.error().message());
      break;
    }
    if (!decoded->has_value()) break;  // wait for the rest of the packet
    const Decoded& d = **decoded;
    last_packet_ms_ = host_.NowMs();
    PacketType type = TypeOf(d.packet);
    if (state_ == State::kAwaitConnect && type != PacketType::kConnect) {
      Close(out, "the first packet must be CONNECT");
    } else if (type == PacketType::kConnect) {
      if (state_ == State::kConnected) {
        Close(out, "a second CONNECT");
      } else {
        HandleConnect(std::get<Connect>(d.packet), out);
      }
    } else if (type == PacketType::kPublish) {
      HandlePublish(std::get<Publish>(d.packet), out);
    } else if (type == PacketType::kSubscribe) {
      HandleSubscribe(std::get<Subscribe>(d.packet), out);
    } else if (type == PacketType::kUnsubscribe) {
      EncodePacketIdOnly(out.to_send, {PacketType::kUnsubAck, std::get<Unsubscribe>(d.packet).packet_id});
    } else if (type == PacketType::kPingReq) {
      EncodeBare(out.to_send, {PacketType::kPingResp});
    } else if (type == PacketType::kDisconnect) {
      Close(out, "the device disconnected");
    } else if (type == PacketType::kPubAck) {
      // Acknowledgements of cloud-to-device messages: C2D delivery comes with its issue.
    } else {
      Close(out, "a packet a device may not send");
    }
    consumed += d.size;
  }
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<long>(consumed));
  return out;
}

void Session::HandleConnect(const Connect& c, Output& out) {
  if (c.level != 4 || c.protocol_name != "MQTT") {
    EncodeConnAck(out.to_send, {false, ConnectCode::kBadProtocolVersion});
    return Close(out, "not MQTT 3.1.1");
  }
  hub::DeviceCredentials credentials;
  credentials.client_id = c.client_id;
  credentials.username = c.username.value_or("");
  if (c.password) credentials.password = AsChars(*c.password);
  Result<hub::AuthenticatedDevice> device = host_.Authenticate(credentials);
  if (!device.has_value()) {
    EncodeConnAck(out.to_send, {false, CodeFor(device.error())});
    return Close(out, "CONNECT of client '" + std::string(c.client_id) + "' refused: " +
                          std::string(StatusCodeName(device.error().code())));
  }
  device_ = std::move(*device);
  events_prefix_ = "devices/" + device_.device_id +
                   (device_.module_id ? "/modules/" + *device_.module_id : "") + "/messages/events";
  int64_t keep_alive_s = std::min<int64_t>(c.keep_alive, limits_.max_keep_alive_s);
  keep_alive_ms_ = keep_alive_s * 1500;  // 1.5 x, as Azure
  state_ = State::kConnected;
  EncodeConnAck(out.to_send, {false, ConnectCode::kAccepted});
}

void Session::HandlePublish(const Publish& p, Output& out) {
  if (p.qos == 2) return Close(out, "QoS 2 is not supported by IoT Hub");
  std::optional<TelemetryTopic> topic = MatchTelemetryTopic(p.topic);
  if (!topic || topic->device_id != device_.device_id || topic->module_id != device_.module_id) {
    return Close(out, "PUBLISH to a topic this device may not use");
  }
  Result<hub::MessageProperties> properties = ParsePropertyBag(topic->bag);
  if (!properties.has_value()) return Close(out, properties.error().message());
  if (p.retain) properties->application.emplace_back("mqtt-retain", "true");
  if (Status size = hub::CheckMessageSize(p.payload.size(), *properties); !size.ok()) {
    return Close(out, size.message());
  }
  hub::TelemetryMessage message;
  message.device_id = device_.device_id;
  message.module_id = device_.module_id;
  message.enqueued_ms = host_.NowMs();
  message.properties = std::move(*properties);
  message.body.assign(p.payload.begin(), p.payload.end());
  host_.SubmitTelemetry(std::move(message), p.qos == 1 ? p.packet_id : 0);
}

void Session::HandleSubscribe(const Subscribe& s, Output& out) {
  SubAck ack{s.packet_id, {}};
  for (const auto& [filter, qos] : s.filters) {
    ack.codes.push_back(KnownFilter(filter, device_) ? std::min<uint8_t>(qos, 1)
                                                     : kSubscriptionFailure);
  }
  EncodeSubAck(out.to_send, ack);
}

Session::Output Session::OnDurable(uint16_t packet_id, const Status& stored) {
  Output out;
  if (state_ != State::kConnected) return out;
  if (!stored.ok()) {
    // Never acknowledge what was not stored: the device will resend after reconnecting.
    Close(out, "telemetry could not be stored: " + stored.message());
    return out;
  }
  EncodePacketIdOnly(out.to_send, {PacketType::kPubAck, packet_id});
  return out;
}

Session::Output Session::OnTick() {
  Output out;
  if (state_ != State::kConnected) return out;
  int64_t now = host_.NowMs();
  if (keep_alive_ms_ > 0 && now - last_packet_ms_ > keep_alive_ms_) {
    Close(out, "keep-alive expired");
  } else if (now / 1000 > device_.expires_at + hub::kSasClockSkewSeconds) {
    Close(out, "the SAS token expired");
  }
  return out;
}

}  // namespace coffre::mqtt
