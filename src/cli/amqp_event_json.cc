#include "cli/amqp_event_json.h"

#include <proton/annotation_key.hpp>
#include <proton/binary.hpp>
#include <proton/codec/map.hpp>
#include <proton/message.hpp>
#include <proton/message_id.hpp>
#include <proton/symbol.hpp>
#include <proton/timestamp.hpp>
#include <proton/uuid.hpp>
#include <proton/value.hpp>

#include <map>

#include "amqp/proton_util.h"
#include "common/encoding.h"
#include "common/time_format.h"
#include "common/utf8.h"

namespace coffre::cli {
namespace {

using nlohmann::json;

// A value as the read API's text: strings as they are, times in ISO 8601, numbers in decimal.
std::string Text(const proton::value& v) {
  try {
    switch (v.type()) {
      case proton::NULL_TYPE: return "";
      case proton::STRING: return proton::get<std::string>(v);
      case proton::SYMBOL: return std::string(proton::get<proton::symbol>(v));
      case proton::TIMESTAMP: return FormatIsoTime(proton::get<proton::timestamp>(v).milliseconds());
      case proton::BOOLEAN: return proton::get<bool>(v) ? "true" : "false";
      case proton::UUID: return proton::get<proton::uuid>(v).str();
      case proton::BINARY: {
        proton::binary b = proton::get<proton::binary>(v);
        return std::string(b.begin(), b.end());
      }
      case proton::BYTE: case proton::SHORT: case proton::INT: case proton::LONG:
        return std::to_string(proton::coerce<int64_t>(v));
      case proton::UBYTE: case proton::USHORT: case proton::UINT: case proton::ULONG:
        return std::to_string(proton::coerce<uint64_t>(v));
      default: return proton::to_string(v);
    }
  } catch (const std::exception&) {
    return "";
  }
}

// The message annotations with symbol keys; empty if they cannot be read.
std::map<std::string, proton::value> Annotations(const proton::message& m) {
  std::map<std::string, proton::value> out;
  try {
    const proton::message::annotation_map& a = m.message_annotations();
    if (a.size() == 0) return out;
    std::map<proton::annotation_key, proton::value> all;
    proton::get(a.value(), all);
    for (const auto& [key, value] : all) {
      if (key.type() == proton::SYMBOL) out[std::string(proton::get<proton::symbol>(key))] = value;
    }
  } catch (const std::exception&) {
    out.clear();
  }
  return out;
}

json ApplicationProperties(const proton::message& m) {
  json out = json::object();
  try {
    const proton::message::property_map& p = m.properties();
    if (p.size() == 0) return out;
    std::map<std::string, proton::value> all;
    proton::get(p.value(), all);
    for (const auto& [name, value] : all) out[name] = Text(value);
  } catch (const std::exception&) {
    return json::object();
  }
  return out;
}

bool Set(const proton::message_id& id) { return id.type() != proton::NULL_TYPE; }

// Annotations that are top-level fields, or facts about the device's connection that the read
// API does not carry.
bool Skipped(const std::string& name) {
  return name.starts_with("x-opt-") || name == "iothub-connection-auth-method" ||
         name == "iothub-connection-auth-generation-id";
}

}  // namespace

json AmqpEventJson(const proton::message& m, const std::string& partition) {
  std::map<std::string, proton::value> a = Annotations(m);
  auto annotation = [&](const char* name) -> const proton::value* {
    auto it = a.find(name);
    return it == a.end() ? nullptr : &it->second;
  };
  json event = json::object();
  event["partition"] = partition;
  const proton::value* offset = annotation("x-opt-offset");
  event["offset"] = offset ? json(Text(*offset)) : json();
  const proton::value* sequence = annotation("x-opt-sequence-number");
  try {
    if (sequence && (proton::type_id_is_signed_int(sequence->type()) ||
                     proton::type_id_is_unsigned_int(sequence->type()))) {
      event["sequenceNumber"] = proton::coerce<int64_t>(*sequence);
    }
  } catch (const std::exception&) {
  }
  if (!event.contains("sequenceNumber")) event["sequenceNumber"] = json();
  const proton::value* enqueued = annotation("x-opt-enqueued-time");
  event["enqueuedTime"] = enqueued ? json(Text(*enqueued)) : json();
  const proton::value* device = annotation("iothub-connection-device-id");
  event["deviceId"] = device ? json(Text(*device)) : json();

  json system = json::object();
  try {
    if (Set(m.id())) system["messageId"] = amqp::IdText(m.id());
    if (Set(m.correlation_id())) system["correlationId"] = amqp::IdText(m.correlation_id());
    if (std::string user = m.user(); !user.empty()) system["userId"] = user;
    if (std::string to = m.to(); !to.empty()) system["to"] = to;
    if (std::string type = m.content_type(); !type.empty()) system["contentType"] = type;
    if (std::string enc = m.content_encoding(); !enc.empty()) system["contentEncoding"] = enc;
    if (int64_t expiry = m.expiry_time().milliseconds(); expiry != 0) {
      system["absoluteExpiryTime"] = FormatIsoTime(expiry);
    }
  } catch (const std::exception&) {
  }
  for (const auto& [name, value] : a) {
    if (Skipped(name)) continue;
    system[name == "iothub-interface-id" ? std::string("interfaceId") : name] = Text(value);
  }
  event["systemProperties"] = std::move(system);
  event["properties"] = ApplicationProperties(m);

  std::string body = amqp::BodyText(m).value_or("");
  if (IsValidUtf8(body, false)) {
    event["bodyEncoding"] = "utf-8";
    event["body"] = std::move(body);
  } else {
    event["bodyEncoding"] = "base64";
    event["body"] = Base64Encode(AsBytes(body));
  }
  return event;
}

}  // namespace coffre::cli
