#include "hubapi/message_json.h"

#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "common/time_format.h"
#include "common/utf8.h"

namespace coffre::hubapi {

namespace {

// `text`, known to be UTF-8, as a JSON string literal: runs that need no escape appended whole.
void AppendUtf8JsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  size_t run = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    auto u = static_cast<unsigned char>(text[i]);
    if (u >= 0x20 && u != '"' && u != '\\') continue;
    out.append(text.substr(run, i - run));
    run = i + 1;
    switch (u) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        out += "\\u00";
        out += kHex[u >> 4];
        out += kHex[u & 0xf];
    }
  }
  out.append(text.substr(run));
  out += '"';
}

}  // namespace

void AppendJsonString(std::string& out, std::string_view text) {
  if (!IsValidUtf8(text)) {  // rare: let nlohmann replace what is not UTF-8
    out += nlohmann::json(std::string(text)).dump(-1, ' ', false,
                                                  nlohmann::json::error_handler_t::replace);
    return;
  }
  AppendUtf8JsonString(out, text);
}

namespace {

void AppendMember(std::string& out, std::string_view name, std::string_view value, bool& first) {
  if (!first) out += ',';
  first = false;
  AppendJsonString(out, name);
  out += ':';
  AppendJsonString(out, value);
}

}  // namespace

void AppendMessageJson(std::string& out, int partition, const hub::StoredMessage& m) {
  const hub::TelemetryMessage& msg = m.message;
  const hub::SystemProperties& s = msg.properties.system;
  std::string enqueued = FormatIsoTime(msg.enqueued_ms);
  std::string offset = std::to_string(m.sequence);
  out += "{\"partition\":\"";
  out += std::to_string(partition);
  out += "\",\"offset\":\"";
  out += offset;
  out += "\",\"sequenceNumber\":";
  out += offset;
  out += ",\"enqueuedTime\":\"";
  out += enqueued;
  out += "\",\"deviceId\":";
  AppendJsonString(out, msg.device_id);
  if (m.erased) {
    // The record is still in the partition, its content unreadable: say so, and by whom.
    out += ",\"erased\":{\"erasedAt\":\"";
    out += FormatIsoTime(m.erased->erased_ms);
    out += "\",\"erasedBy\":";
    AppendJsonString(out, m.erased->erased_by);
    out += "}}";
    return;
  }
  out += ",\"systemProperties\":{";
  bool first = true;
  const std::pair<const char*, const std::optional<std::string>*> fields[] = {
      {"messageId", &s.message_id},       {"correlationId", &s.correlation_id},
      {"userId", &s.user_id},             {"to", &s.to},
      {"contentType", &s.content_type},   {"contentEncoding", &s.content_encoding},
      {"absoluteExpiryTime", &s.expiry_time}, {"interfaceId", &s.interface_id},
      {"dt-subject", &s.subject},         {"outputName", &s.output_name}};
  for (auto [name, value] : fields) {
    if (*value) AppendMember(out, name, **value, first);
  }
  AppendMember(out, "iothub-connection-device-id", msg.device_id, first);
  if (msg.module_id) AppendMember(out, "iothub-connection-module-id", *msg.module_id, first);
  AppendMember(out, "iothub-enqueuedtime", enqueued, first);
  AppendMember(out, "iothub-message-source", "Telemetry", first);
  out += "},\"properties\":{";
  first = true;
  const auto& application = msg.properties.application;
  for (size_t i = 0; i < application.size(); ++i) {
    bool repeated_later = false;  // a name sent twice: the last value wins, as in a JSON object
    for (size_t j = i + 1; j < application.size() && !repeated_later; ++j) {
      repeated_later = application[j].first == application[i].first;
    }
    if (!repeated_later) AppendMember(out, application[i].first, application[i].second, first);
  }
  std::string_view body = AsChars(msg.body);
  bool text = IsValidUtf8(body, false);
  out += "},\"bodyEncoding\":\"";
  out += text ? "utf-8" : "base64";
  out += "\",\"body\":";
  if (text) {
    AppendUtf8JsonString(out, body);
  } else {
    out += '"';
    out += Base64Encode(msg.body);
    out += '"';
  }
  out += '}';
}

}  // namespace coffre::hubapi
