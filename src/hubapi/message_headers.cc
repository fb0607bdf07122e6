#include "hubapi/message_headers.h"

#include <strings.h>

#include <optional>
#include <string>
#include <string_view>

namespace coffre::hubapi {

namespace {

constexpr std::string_view kAppPrefix = "iothub-app-";

}  // namespace

hub::MessageProperties PropertiesFromHeaders(const net::HttpHeaders& headers) {
  hub::MessageProperties p;
  const std::pair<const char*, std::optional<std::string>*> system[] = {
      {"IoTHub-MessageId", &p.system.message_id},     {"IoTHub-CorrelationId", &p.system.correlation_id},
      {"IoTHub-UserId", &p.system.user_id},           {"IoTHub-To", &p.system.to},
      {"IoTHub-Expiry", &p.system.expiry_time},       {"iothub-contenttype", &p.system.content_type},
      {"iothub-contentencoding", &p.system.content_encoding},
      {"iothub-interface-id", &p.system.interface_id}, {"dt-subject", &p.system.subject}};
  for (const auto& [name, value] : headers) {
    bool matched = false;
    for (auto [header, slot] : system) {
      if (::strcasecmp(name.c_str(), header) == 0) {
        *slot = value;
        matched = true;
      }
    }
    if (!matched && name.size() >= kAppPrefix.size() &&
        ::strncasecmp(name.c_str(), kAppPrefix.data(), kAppPrefix.size()) == 0) {
      p.application.emplace_back(name.substr(kAppPrefix.size()), value);
    }
  }
  return p;
}

}  // namespace coffre::hubapi
