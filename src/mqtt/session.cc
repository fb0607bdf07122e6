#include "mqtt/session.h"

#include <algorithm>
#include <limits>

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

// At most this many twin requests of one session wait for the hub; more get 429 at once.
constexpr size_t kMaxTwinRequests = 16;

// The IoT Hub feature a topic filter turns on for `device`; nullopt if it is not one a device
// may subscribe to.
std::optional<SessionFeature> FeatureOf(std::string_view filter, const hub::AuthenticatedDevice& device) {
  if (filter == "$iothub/twin/res/#") return SessionFeature::kTwinResponses;
  if (filter == "$iothub/twin/PATCH/properties/desired/#") return SessionFeature::kDesired;
  if (filter == "$iothub/methods/POST/#") return SessionFeature::kMethods;
  std::string c2d = "devices/" + device.device_id +
                    (device.module_id ? "/modules/" + *device.module_id + "/inputs/#"
                                      : "/messages/devicebound/#");
  if (filter == c2d) return SessionFeature::kC2d;
  return std::nullopt;
}

// IoT Hub's twin error body, which the SDK reads (it ignores the status in the topic).
constexpr std::string_view kTooManyTwinRequests =
    R"({"errorCode":429001,"message":"Too many twin requests are waiting on this connection."})";

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
      HandleUnsubscribe(std::get<Unsubscribe>(d.packet), out);
    } else if (type == PacketType::kPingReq) {
      EncodeBare(out.to_send, {PacketType::kPingResp});
    } else if (type == PacketType::kDisconnect) {
      Close(out, "the device disconnected");
    } else if (type == PacketType::kPubAck) {
      // A C2D message's acknowledgement completes it; an unknown packet id is ignored (a
      // duplicate, or a message already put back).
      auto it = c2d_in_flight_.find(std::get<PacketIdOnly>(d.packet).packet_id);
      if (it != c2d_in_flight_.end()) {
        std::string lock = std::move(it->second);
        c2d_in_flight_.erase(it);
        host_.C2dAcknowledged(lock);
      }
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
  Result<std::optional<IotHubRequest>> request = MatchIotHubRequest(p.topic);
  if (!request.has_value()) return Close(out, request.error().message());
  if (request->has_value()) return HandleIotHubRequest(**request, p, out);
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
  message.auth_type = device_.auth_type;
  message.auth_generation_id = device_.generation_id;
  message.enqueued_ms = host_.NowMs();
  message.properties = std::move(*properties);
  message.body.assign(p.payload.begin(), p.payload.end());
  host_.SubmitTelemetry(std::move(message), p.qos == 1 ? p.packet_id : 0);
}

void Session::HandleIotHubRequest(const IotHubRequest& request, const Publish& p, Output& out) {
  if (p.qos == 1) EncodePacketIdOnly(out.to_send, {PacketType::kPubAck, p.packet_id});
  std::string body(AsChars(p.payload));
  if (request.kind == IotHubRequest::Kind::kMethodResponse) {
    return host_.SubmitMethodResponse(request.rid, request.status, std::move(body));
  }
  if (twin_requests_ >= kMaxTwinRequests) {
    return Publish0(TwinResponseTopic(429, request.rid), kTooManyTwinRequests, out);
  }
  ++twin_requests_;
  host_.SubmitTwinRequest(request, std::move(body));
}

void Session::HandleSubscribe(const Subscribe& s, Output& out) {
  SubAck ack{s.packet_id, {}};
  std::vector<SessionFeature> added;
  for (const auto& [filter, qos] : s.filters) {
    std::optional<SessionFeature> feature = FeatureOf(filter, device_);
    ack.codes.push_back(feature ? std::min<uint8_t>(qos, 1) : kSubscriptionFailure);
    if (feature && !subscribed(*feature)) {
      features_ |= static_cast<uint8_t>(*feature);
      added.push_back(*feature);
    }
  }
  EncodeSubAck(out.to_send, ack);
  // After the SUBACK is queued: what the host delivers now follows it on the wire.
  for (SessionFeature f : added) host_.Subscribed(f);
}

void Session::HandleUnsubscribe(const Unsubscribe& u, Output& out) {
  for (std::string_view filter : u.filters) {
    if (std::optional<SessionFeature> f = FeatureOf(filter, device_)) {
      features_ &= static_cast<uint8_t>(~static_cast<uint8_t>(*f));
    }
  }
  EncodePacketIdOnly(out.to_send, {PacketType::kUnsubAck, u.packet_id});
}

void Session::Publish0(std::string_view topic, std::string_view payload, Output& out) {
  EncodePublish(out.to_send, {false, 0, false, topic, 0, AsBytes(payload)});
}

Session::Output Session::OnTwinReply(const std::string& rid, int status, const std::string& body,
                                     std::optional<int64_t> version) {
  Output out;
  if (twin_requests_ > 0) --twin_requests_;
  if (state_ != State::kConnected) return out;
  Publish0(TwinResponseTopic(status, rid, version), body, out);
  return out;
}

Session::Output Session::SendDesired(std::string_view patch, int64_t version) {
  Output out;
  if (state_ == State::kConnected && subscribed(SessionFeature::kDesired)) {
    Publish0(DesiredPatchTopic(version), patch, out);
  }
  return out;
}

Session::Output Session::SendMethod(std::string_view name, std::string_view rid,
                                    std::string_view payload) {
  Output out;
  if (state_ == State::kConnected && subscribed(SessionFeature::kMethods)) {
    Publish0(MethodRequestTopic(name, rid), payload, out);
  }
  return out;
}

Session::Output Session::SendC2d(std::string_view topic, ByteSpan payload, std::string lock_token) {
  Output out;
  if (state_ != State::kConnected || !subscribed(SessionFeature::kC2d)) return out;
  // A packet id not in use (at most a few messages are in flight per session).
  while (next_packet_id_ == 0 || c2d_in_flight_.count(next_packet_id_) != 0) ++next_packet_id_;
  uint16_t id = next_packet_id_++;
  c2d_in_flight_.emplace(id, std::move(lock_token));
  EncodePublish(out.to_send, {false, 1, false, topic, id, payload});
  return out;
}

std::vector<std::string> Session::UnacknowledgedC2d() const {
  std::vector<std::string> locks;
  for (const auto& [id, lock] : c2d_in_flight_) locks.push_back(lock);
  return locks;
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

std::optional<int64_t> Session::NextCheckMs() const {
  if (state_ != State::kConnected) return std::nullopt;
  // OnTick's conditions, each at the first millisecond it holds.
  constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
  int64_t keep_alive = keep_alive_ms_ > 0 ? last_packet_ms_ + keep_alive_ms_ + 1 : kNever;
  // A token's se can be near the largest int64 (sas_token.cc takes it as it is): no overflow.
  int64_t expiry = device_.expires_at < kNever / 1000 - hub::kSasClockSkewSeconds - 1
                       ? (device_.expires_at + hub::kSasClockSkewSeconds + 1) * 1000
                       : kNever;
  return std::min(keep_alive, expiry);
}

Session::Output Session::OnTick() {
  Output out;
  if (state_ != State::kConnected) return out;
  int64_t now = host_.NowMs();
  if (keep_alive_ms_ > 0 && now - last_packet_ms_ > keep_alive_ms_) {
    Close(out, "keep-alive expired");
  } else if (now / 1000 - hub::kSasClockSkewSeconds > device_.expires_at) {
    Close(out, "the SAS token expired");
  }
  return out;
}

}  // namespace coffre::mqtt
