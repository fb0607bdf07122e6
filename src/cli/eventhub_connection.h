#pragma once
// Where `coffre hub monitor-events --amqp` reads: an Event Hubs-compatible endpoint named by its
// connection string (Endpoint=sb://HOST[:PORT]/;SharedAccessKeyName=..;SharedAccessKey=..;
// EntityPath=..), given as a flag or taken from a stack's connection.json, and the SAS token it
// puts on `$cbs` (Event Hubs' convention: the HMAC key is the key's text, sr the url-encoded
// audience). No Proton here. Stateless.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "cli/hub_connection.h"
#include "common/result.h"
#include "crypto/secret_bytes.h"

namespace coffre::cli {

inline constexpr uint16_t kAmqpsPort = 5671;
inline constexpr uint16_t kAmqpPort = 5672;  // UseDevelopmentEmulator=true: plain TCP

// Move-only: it holds the key.
struct EventHubConnection {
  std::string host;      // the Endpoint's host: TLS name and token audience
  uint16_t port = kAmqpsPort;
  bool tls = true;
  std::string endpoint;  // "sb://HOST[:PORT]" as written, the audience's prefix
  std::string entity;    // EntityPath: the event hub (an IoT hub's name)
  std::string key_name;  // SharedAccessKeyName
  crypto::SecretBytes key;  // SharedAccessKey's text, as Event Hubs signs with it
  std::string signature;    // or a ready SharedAccessSignature (then no key)
  std::filesystem::path ca_file;  // empty: the system's trust store
};

// INVALID_ARGUMENT naming the part that is missing or malformed (never echoing the key); an IoT
// Hub connection string (HostName=...) is refused with a hint.
Result<EventHubConnection> ParseEventHubConnectionString(std::string_view text);

// The explicit string beats DIR's connection.json (eventhub_connection_string, and amqp_port when
// the Endpoint has no port); --ca-file beats DIR's ca_file. INVALID_ARGUMENT when neither names
// an endpoint.
Result<EventHubConnection> ResolveEventHubConnection(const HubConnectionOptions& options,
                                                     const std::string& connection_string);

// "SharedAccessSignature sr=<urlencoded audience>&sig=..&skn=..&se=.." for `audience`
// ("sb://host/entity"), valid until `expiry` (seconds since the epoch); or the connection
// string's own SharedAccessSignature.
Result<std::string> EventHubToken(const EventHubConnection& c, const std::string& audience,
                                  int64_t expiry);

}  // namespace coffre::cli
