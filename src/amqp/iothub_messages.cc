#include "amqp/iothub_messages.h"

#include <proton/annotation_key.hpp>
#include <proton/binary.hpp>
#include <proton/codec/map.hpp>
#include <proton/map.hpp>
#include <proton/message_id.hpp>
#include <proton/scalar.hpp>
#include <proton/symbol.hpp>
#include <proton/timestamp.hpp>

#include <map>
#include <sstream>

#include "amqp/claims.h"
#include "amqp/proton_util.h"
#include "amqp/router.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/strings.h"
#include "common/time_format.h"

namespace coffre::amqp {

namespace {

std::optional<std::string> IdOf(const proton::message_id& id) {
  if (id.empty()) return std::nullopt;
  std::string text = IdText(id);
  if (text.empty()) return std::nullopt;
  return text;
}

std::string ScalarText(const proton::scalar& v) {
  switch (v.type()) {
    case proton::STRING: return proton::get<std::string>(v);
    case proton::SYMBOL: return std::string(proton::get<proton::symbol>(v));
    case proton::BINARY: {
      proton::binary b = proton::get<proton::binary>(v);
      return std::string(b.begin(), b.end());
    }
    default: {
      std::ostringstream out;
      out << v;
      return out.str();
    }
  }
}

// Application properties in a stable order, values as text.
std::map<std::string, std::string> AppProperties(const proton::message& m) {
  std::map<std::string, std::string> out;
  if (m.properties().empty()) return out;
  std::map<std::string, proton::scalar> props;
  proton::get(m.properties().value(), props);
  for (const auto& [k, v] : props) out[k] = ScalarText(v);
  return out;
}


std::optional<std::string> NonEmpty(const std::string& s) {
  if (s.empty()) return std::nullopt;
  return s;
}

// The body's bytes: a Data section, an amqp-value string or binary; nothing for no body.
Result<std::string> BodyBytes(const proton::message& m) {
  if (m.body().empty()) return std::string();
  std::optional<std::string> text = BodyText(m);
  if (!text) return InvalidArgument("The message body must be a Data section.");
  return *text;
}

void ReadSystem(const proton::message& m, hub::SystemProperties& sys) {
  sys.message_id = IdOf(m.id());
  sys.correlation_id = IdOf(m.correlation_id());
  sys.user_id = NonEmpty(m.user());
  sys.content_type = NonEmpty(m.content_type());
  sys.content_encoding = NonEmpty(m.content_encoding());
}

}  // namespace

std::optional<std::string> MessageAnnotation(const proton::message& m, const std::string& key) {
  const proton::message::annotation_map& a = m.message_annotations();
  if (a.empty() || !a.exists(proton::symbol(key))) return std::nullopt;
  proton::value v = a.get(proton::symbol(key));
  if (v.type() == proton::STRING) return proton::get<std::string>(v);
  if (v.type() == proton::SYMBOL) return std::string(proton::get<proton::symbol>(v));
  return std::nullopt;
}

std::optional<DeviceAddress> ParseDeviceAddress(std::string_view normalized) {
  std::vector<std::string_view> seg = Split(normalized, '/');
  if (seg.size() < 3 || !EqualsIgnoreCase(seg[0], "devices") || seg[1].empty()) return std::nullopt;
  DeviceAddress out;
  out.device_id = PercentDecode(seg[1], false);
  size_t i = 2;
  if (seg.size() >= 5 && EqualsIgnoreCase(seg[2], "modules") && !seg[3].empty()) {
    out.module_id = PercentDecode(seg[3], false);
    i = 4;
  }
  size_t rest = seg.size() - i;
  auto is = [&](size_t k, const char* s) { return EqualsIgnoreCase(seg[i + k], s); };
  if (rest == 2 && is(0, "messages") && is(1, "events")) {
    out.kind = DeviceAddress::Kind::kEvents;
  } else if (rest == 2 && is(0, "messages") && is(1, "devicebound") && !out.module_id) {
    out.kind = DeviceAddress::Kind::kDevicebound;
  } else if (rest == 1 && is(0, "twin")) {
    out.kind = DeviceAddress::Kind::kTwin;
  } else if (rest == 2 && is(0, "methods") && is(1, "devicebound")) {
    out.kind = DeviceAddress::Kind::kMethods;
  } else {
    return std::nullopt;
  }
  if (out.device_id.empty() || (out.module_id && out.module_id->empty())) return std::nullopt;
  return out;
}

std::optional<std::string> C2dTargetDevice(std::string_view to) {
  std::string normalized = NormalizeAddress(to);
  std::vector<std::string_view> seg = Split(normalized, '/');
  if (seg.size() != 4 || !EqualsIgnoreCase(seg[0], "devices") || seg[1].empty() ||
      !EqualsIgnoreCase(seg[2], "messages") || !EqualsIgnoreCase(seg[3], "devicebound")) {
    return std::nullopt;
  }
  std::string id = PercentDecode(seg[1], false);
  if (id.empty()) return std::nullopt;
  return id;
}

Result<hub::C2dMessage> C2dFromAmqp(const proton::message& m) {
  hub::C2dMessage out;
  ReadSystem(m, out.properties.system);
  if (std::optional<std::string> subject = MessageAnnotation(m, "dt-subject")) {
    out.properties.system.subject = subject;
  }
  for (const auto& [name, value] : AppProperties(m)) {
    if (name == "iothub-ack") {
      std::optional<hub::C2dAck> ack = hub::ParseC2dAck(value);
      if (!ack) return InvalidArgument("iothub-ack must be none, positive, negative or full.");
      out.ack = *ack;
      continue;
    }
    out.properties.application.emplace_back(name, value);
  }
  int64_t expiry = m.expiry_time().milliseconds();
  if (expiry > 0) out.expiry = FromMillis(expiry);
  COFFRE_ASSIGN_OR_RETURN(out.body, BodyBytes(m));
  return out;
}

proton::message C2dToAmqp(const hub::QueuedC2d& c2d, const std::string& device_id) {
  const hub::C2dMessage& msg = c2d.message;
  const hub::SystemProperties& sys = msg.properties.system;
  proton::message m;
  if (sys.message_id) m.id(*sys.message_id);
  if (sys.correlation_id) m.correlation_id(*sys.correlation_id);
  if (sys.user_id) m.user(*sys.user_id);
  if (sys.content_type) m.content_type(*sys.content_type);
  if (sys.content_encoding) m.content_encoding(*sys.content_encoding);
  m.to("/devices/" + PercentEncode(device_id) + "/messages/devicebound");
  if (msg.expiry) m.expiry_time(proton::timestamp(ToMillis(*msg.expiry)));
  for (const auto& [name, value] : msg.properties.application) m.properties().put(name, value);
  if (msg.ack != hub::C2dAck::kNone) {
    m.properties().put("iothub-ack", std::string(hub::C2dAckName(msg.ack)));
  }
  if (sys.subject) m.message_annotations().put(proton::symbol("dt-subject"), *sys.subject);
  m.delivery_count(c2d.delivery_count > 0 ? c2d.delivery_count - 1 : 0);
  m.body(proton::binary(msg.body));
  m.inferred(true);  // a Data section: the SDK reads body.content
  return m;
}

Result<hub::TelemetryMessage> TelemetryFromAmqp(const proton::message& m) {
  hub::TelemetryMessage out;
  hub::SystemProperties& sys = out.properties.system;
  ReadSystem(m, sys);
  int64_t expiry = m.expiry_time().milliseconds();
  if (expiry > 0) sys.expiry_time = FormatIsoTime(expiry);
  sys.interface_id = MessageAnnotation(m, "iothub-interface-id");
  sys.subject = MessageAnnotation(m, "dt-subject");
  for (const auto& [name, value] : AppProperties(m)) {
    if (name == "iothub-outputname") {
      sys.output_name = value;
      continue;
    }
    out.properties.application.emplace_back(name, value);
  }
  COFFRE_ASSIGN_OR_RETURN(std::string body, BodyBytes(m));
  out.body.assign(reinterpret_cast<const std::byte*>(body.data()),
                  reinterpret_cast<const std::byte*>(body.data()) + body.size());
  return out;
}

std::string ConditionFor(const Status& status) {
  const std::string& detail = status.detail();
  if (detail == "DeviceMaximumQueueDepthExceeded") return "amqp:resource-limit-exceeded";
  if (detail == "MessageTooLarge") return "amqp:link:message-size-exceeded";
  switch (status.code()) {
    case StatusCode::kNotFound: return "amqp:not-found";
    case StatusCode::kInvalidArgument: return "com.microsoft:argument-error";
    case StatusCode::kUnauthenticated:
    case StatusCode::kPermissionDenied: return "amqp:unauthorized-access";
    case StatusCode::kResourceExhausted: return "amqp:resource-limit-exceeded";
    case StatusCode::kUnavailable: return "com.microsoft:timeout";
    default: return "amqp:internal-error";
  }
}

}  // namespace coffre::amqp
