#pragma once
// The read API's messages as JSON text (docs/formats/read-api.md), written straight into one
// string: building a JSON tree per message (objects, their keys and strings, each on the heap)
// was most of what reading back cost at 1,000 messages per page. Stateless.

#include <string>
#include <string_view>

#include "hub/telemetry_store.h"

namespace coffre::hubapi {

// `text` as a JSON string literal (quotes included). Invalid UTF-8 becomes U+FFFD, as
// nlohmann::json's replace handler does.
void AppendJsonString(std::string& out, std::string_view text);

// One stored message as the read API's JSON object.
void AppendMessageJson(std::string& out, int partition, const hub::StoredMessage& m);

}  // namespace coffre::hubapi
