#include "mqtt/topics.h"

#include "common/encoding.h"
#include "common/utf8.h"

namespace coffre::mqtt {
namespace {

constexpr std::string_view kDevices = "devices/";
constexpr std::string_view kEvents = "messages/events";

// Takes "x/" off the front of `s` and returns x, or nullopt.
std::optional<std::string_view> NextLevel(std::string_view& s) {
  size_t slash = s.find('/');
  if (slash == std::string_view::npos || slash == 0) return std::nullopt;
  std::string_view level = s.substr(0, slash);
  s.remove_prefix(slash + 1);
  return level;
}

std::optional<std::string>* SystemSlot(hub::SystemProperties& s, std::string_view name) {
  if (name == "$.mid") return &s.message_id;
  if (name == "$.cid") return &s.correlation_id;
  if (name == "$.uid") return &s.user_id;
  if (name == "$.to") return &s.to;
  if (name == "$.ct") return &s.content_type;
  if (name == "$.ce") return &s.content_encoding;
  if (name == "$.exp") return &s.expiry_time;
  if (name == "$.ifid") return &s.interface_id;
  if (name == "$.sub") return &s.subject;
  if (name == "$.on") return &s.output_name;
  return nullptr;
}

}  // namespace

std::optional<TelemetryTopic> MatchTelemetryTopic(std::string_view topic) {
  if (topic.substr(0, kDevices.size()) != kDevices) return std::nullopt;
  std::string_view rest = topic.substr(kDevices.size());
  TelemetryTopic t;
  auto device = NextLevel(rest);
  if (!device) return std::nullopt;
  t.device_id = *device;
  if (rest.substr(0, 8) == "modules/") {
    rest.remove_prefix(8);
    auto module = NextLevel(rest);
    if (!module) return std::nullopt;
    t.module_id = *module;
  }
  if (rest.substr(0, kEvents.size()) != kEvents) return std::nullopt;
  rest.remove_prefix(kEvents.size());
  if (rest.empty()) return t;  // "…/messages/events" without the trailing '/'
  if (rest[0] != '/') return std::nullopt;
  t.bag = rest.substr(1);
  // Module outputs end with one more '/' after the bag.
  if (!t.bag.empty() && t.bag.back() == '/') t.bag.remove_suffix(1);
  return t;
}

Result<hub::MessageProperties> ParsePropertyBag(std::string_view bag) {
  hub::MessageProperties out;
  size_t pairs = 0;
  while (!bag.empty()) {
    size_t amp = bag.find('&');
    std::string_view pair = bag.substr(0, amp);
    bag = amp == std::string_view::npos ? std::string_view() : bag.substr(amp + 1);
    if (pair.empty()) continue;
    if (++pairs > kMaxBagProperties) {
      return InvalidArgument("the property bag has more than " +
                             std::to_string(kMaxBagProperties) + " properties");
    }
    size_t eq = pair.find('=');
    std::string name = PercentDecode(pair.substr(0, eq), false);
    std::string value = eq == std::string_view::npos ? "" : PercentDecode(pair.substr(eq + 1), false);
    if (name.empty() || name.size() > kMaxPropertyNameBytes) {
      return InvalidArgument("a property name is empty or longer than 1024 bytes");
    }
    if (!IsValidUtf8(name, false) || !IsValidUtf8(value, false)) {
      return InvalidArgument("property '" + PercentEncode(name) + "' is not valid UTF-8");
    }
    // A "$." name Azure does not define stays an application property, as other SDKs may
    // send ones this hub does not know yet.
    if (std::optional<std::string>* slot = SystemSlot(out.system, name)) {
      *slot = std::move(value);
      continue;
    }
    if (name == "dt-subject") {
      out.system.subject = std::move(value);
      continue;
    }
    out.application.emplace_back(std::move(name), std::move(value));
  }
  if (out.system.message_id && out.system.message_id->size() > 128) {
    return InvalidArgument("$.mid (message-id) is longer than 128 characters");
  }
  return out;
}

std::string FormatPropertyBag(const hub::MessageProperties& p) {
  std::string out;
  auto add = [&out](std::string_view name, std::string_view value) {
    if (!out.empty()) out += '&';
    out += PercentEncode(name);
    out += '=';
    out += PercentEncode(value);
  };
  const hub::SystemProperties& s = p.system;
  const std::pair<const char*, const std::optional<std::string>*> system[] = {
      {"$.mid", &s.message_id}, {"$.cid", &s.correlation_id}, {"$.uid", &s.user_id},
      {"$.to", &s.to},          {"$.ct", &s.content_type},    {"$.ce", &s.content_encoding},
      {"$.exp", &s.expiry_time}};
  for (const auto& [name, value] : system) {
    if (*value) add(name, **value);
  }
  for (const auto& [name, value] : p.application) add(name, value);
  return out;
}

}  // namespace coffre::mqtt
