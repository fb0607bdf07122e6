#include "cli/eventhub_connection.h"

#include <strings.h>

#include <map>
#include <optional>

#include "cli/connection_file.h"
#include "common/encoding.h"
#include "common/numbers.h"
#include "hub/sas_token.h"

namespace coffre::cli {
namespace {

using nlohmann::json;

constexpr std::string_view kScheme = "sb://";
constexpr std::string_view kShape =
    "Endpoint=sb://HOST[:PORT]/;SharedAccessKeyName=...;SharedAccessKey=...;EntityPath=...";

bool NameIs(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// Azure reads the names of a connection string's parts case-insensitively.
std::optional<std::string> Part(const std::map<std::string, std::string>& parts,
                                std::string_view name) {
  for (const auto& [k, v] : parts) {
    if (NameIs(k, name)) return v;
  }
  return std::nullopt;
}

Status Bad(const std::string& what) {
  return InvalidArgument("the Event Hubs connection string " + what + " (" + std::string(kShape) + ")");
}

}  // namespace

Result<EventHubConnection> ParseEventHubConnectionString(std::string_view text) {
  Result<std::map<std::string, std::string>> parsed = ParseConnectionString(text);
  if (!parsed.has_value()) return Bad("is not NAME=VALUE parts separated by ';'");
  std::map<std::string, std::string>& parts = *parsed;
  // Whatever happens next, the key's copies in `parts` are wiped on the way out.
  struct Wipe {
    std::map<std::string, std::string>& parts;
    ~Wipe() {
      for (auto& [k, v] : parts) crypto::Cleanse(v);
    }
  } wipe{parts};
  std::optional<std::string> endpoint = Part(parts, "Endpoint");
  if (!endpoint) {
    if (Part(parts, "HostName")) {
      return InvalidArgument(
          "that is an IoT Hub connection string (HostName=...); --amqp needs the hub's Event "
          "Hubs-compatible one (" + std::string(kShape) + "): connection.json's "
          "eventhub_connection_string, printed by `coffre up`");
    }
    return Bad("has no Endpoint");
  }
  EventHubConnection c;
  std::optional<std::string> emulator = Part(parts, "UseDevelopmentEmulator");
  c.tls = !(emulator && NameIs(*emulator, "true"));
  std::string_view rest = *endpoint;
  if (rest.size() < kScheme.size() || !NameIs(rest.substr(0, kScheme.size()), kScheme)) {
    return Bad("has an Endpoint that does not start with sb://");
  }
  rest.remove_prefix(kScheme.size());
  std::string_view authority = rest.substr(0, rest.find('/'));
  Result<HostPort> host_port =
      ParseHostPort(authority, "Endpoint", c.tls ? kAmqpsPort : kAmqpPort);
  if (!host_port.has_value() || host_port->host.empty()) {
    return Bad("has an Endpoint without a host[:port]");
  }
  c.host = host_port->host;
  c.port = host_port->port;
  c.endpoint = std::string(kScheme) + std::string(authority);
  c.entity = Part(parts, "EntityPath").value_or("");
  if (c.entity.empty() || c.entity.find('/') != std::string::npos) {
    return Bad("has no EntityPath (the event hub's name)");
  }
  if (std::optional<std::string> sas = Part(parts, "SharedAccessSignature"); sas && !sas->empty()) {
    if (!sas->starts_with("SharedAccessSignature ")) {
      return Bad("has a SharedAccessSignature that is not one");
    }
    c.signature = *sas;
    return c;
  }
  c.key_name = Part(parts, "SharedAccessKeyName").value_or("");
  std::optional<std::string> key = Part(parts, "SharedAccessKey");
  if (c.key_name.empty() || !key || key->empty()) {
    return Bad("has no SharedAccessKeyName and SharedAccessKey");
  }
  COFFRE_ASSIGN_OR_RETURN(c.key, crypto::SecretBytes::CopyOf(AsBytes(*key)));
  return c;
}

Result<EventHubConnection> ResolveEventHubConnection(const HubConnectionOptions& options,
                                                     const std::string& connection_string) {
  std::string text = connection_string;
  std::filesystem::path ca_file;
  uint16_t dir_port = 0;
  if (!options.dir.empty()) {
    std::filesystem::path file = std::filesystem::path(options.dir) / "connection.json";
    COFFRE_ASSIGN_OR_RETURN(json j, ReadConnectionFile(file));
    ca_file = StringField(j, "ca_file");
    dir_port = PortField(j, "amqp_port");
    if (text.empty()) text = StringField(j, "eventhub_connection_string");
    if (text.empty()) {
      return InvalidArgument(file.string() +
                             " names no Event Hubs-compatible endpoint (is the stack up, and new "
                             "enough to have eventhub_connection_string?)");
    }
  }
  if (text.empty()) {
    return InvalidArgument(
        "--amqp reads through an Event Hubs-compatible endpoint: use --dir DIR, or "
        "--eventhub-connection-string '" + std::string(kShape) + "' [--ca-file FILE]");
  }
  Result<EventHubConnection> c = ParseEventHubConnectionString(text);
  crypto::Cleanse(text);
  if (!c.has_value()) return c.error();
  // DIR's string names its port; DIR's amqp_port only fills in one that is missing.
  std::string_view authority = std::string_view(c->endpoint).substr(kScheme.size());
  size_t colon = authority.rfind(':'), bracket = authority.rfind(']');
  bool explicit_port =
      colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket);
  if (!explicit_port && dir_port != 0 && connection_string.empty()) c->port = dir_port;
  c->ca_file = options.ca_file.empty() ? ca_file : std::filesystem::path(options.ca_file);
  return c;
}

Result<std::string> EventHubToken(const EventHubConnection& c, const std::string& audience,
                                  int64_t expiry) {
  if (!c.signature.empty()) return c.signature;
  // Event Hubs signs the url-encoded audience as sent, with the key's text as the HMAC key.
  return hub::MakeSasToken(PercentEncode(audience), c.key, expiry, c.key_name);
}

}  // namespace coffre::cli
