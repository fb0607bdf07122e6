#pragma once
// UTF-8 well-formedness (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
// MQTT also forbids U+0000 in strings (MQTT 3.1.1 §1.5.3). Stateless.

#include <string_view>

namespace coffre {

bool IsValidUtf8(std::string_view text, bool allow_nul = true);

}  // namespace coffre
