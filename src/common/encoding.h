#pragma once
// Text encodings of bytes: hex, base64 (RFC 4648 section 4) and base64url without padding
// (section 5, as JOSE and Azure Key Vault use it). Decoders reject anything malformed.
// Stateless, thread-safe.

#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/result.h"

namespace coffre {

std::string HexEncode(ByteSpan data);
Result<Bytes> HexDecode(std::string_view text);

std::string Base64Encode(ByteSpan data);
Result<Bytes> Base64Decode(std::string_view text);

std::string Base64UrlEncode(ByteSpan data);
// Accepts base64url with or without '=' padding.
Result<Bytes> Base64UrlDecode(std::string_view text);

// Percent-decoding (RFC 3986). Malformed escapes are kept as they are. With plus_is_space, '+'
// decodes to ' ' (HTML form and query strings); without, it stays '+'.
std::string PercentDecode(std::string_view text, bool plus_is_space);

// Escapes everything but A-Z a-z 0-9 - _ . ~ as %XX (upper-case hex), like JavaScript's
// encodeURIComponent made strict (also ! ' ( ) *).
std::string PercentEncode(std::string_view text);

}  // namespace coffre
