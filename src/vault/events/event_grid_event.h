#pragma once
// A KeyEvent in the Event Grid event schema, as Azure Key Vault delivers it to a webhook: a JSON
// array of one event (docs/VAULT.md, "Events"):
//   [{"id", "topic": "/coffre/vaults/<host[:port]>", "subject": <key name, or the vault's name>,
//     "eventType", "eventTime" (RFC 3339), "data": {"Id", "VaultName", "ObjectType",
//     "ObjectName", "Version", "NBF", "EXP"}, "dataVersion": "1", "metadataVersion": "1"}]
// Stateless.

#include <string>
#include <string_view>

#include "vault/keys/key_events.h"

namespace coffre::vault {

// The vault's name in events: the host[:port] of its public origin ("https://localhost:8443"
// -> "localhost:8443").
std::string VaultNameOf(std::string_view origin);

// `origin` prefixes key ids; `id` is the event's UUID.
std::string EventGridBody(const KeyEvent& event, std::string_view origin, std::string_view id);

}  // namespace coffre::vault
