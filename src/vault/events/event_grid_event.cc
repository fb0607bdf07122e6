#include "vault/events/event_grid_event.h"

#include <nlohmann/json.hpp>

#include "common/time_format.h"

namespace coffre::vault {

using nlohmann::json;

std::string VaultNameOf(std::string_view origin) {
  size_t scheme = origin.find("://");
  if (scheme != std::string_view::npos) origin.remove_prefix(scheme + 3);
  return std::string(origin.substr(0, origin.find('/')));
}

std::string EventGridBody(const KeyEvent& event, std::string_view origin, std::string_view id) {
  std::string vault_name = VaultNameOf(origin);
  bool about_key = !event.object_name.empty();
  // As Azure: a key event names the key and its version; a vault event names the vault.
  std::string object_id = std::string(origin) + "/";
  if (about_key) {
    object_id += "keys/" + event.object_name;
    if (!event.version.empty()) object_id += "/" + event.version;
  }
  auto number_or_null = [](const std::optional<int64_t>& v) { return v ? json(*v) : json(nullptr); };
  json data = {{"Id", object_id},
               {"VaultName", vault_name},
               {"ObjectType", about_key ? "Key" : "Vault"},
               {"ObjectName", about_key ? event.object_name : vault_name},
               {"Version", event.version.empty() ? json(nullptr) : json(event.version)},
               {"NBF", number_or_null(event.nbf)},
               {"EXP", number_or_null(event.exp)}};
  json e = {{"id", id},
            {"topic", "/coffre/vaults/" + vault_name},
            {"subject", about_key ? event.object_name : vault_name},
            {"eventType", event.type},
            {"eventTime", FormatIsoTime(event.time * 1000)},
            {"data", data},
            {"dataVersion", "1"},
            {"metadataVersion", "1"}};
  return json::array({e}).dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace coffre::vault
