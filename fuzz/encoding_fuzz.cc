// Fuzzes the hex, base64 and base64url decoders: whatever decodes must encode back to a form
// that decodes to the same bytes.
#include <cstdint>

#include "common/check.h"
#include "common/encoding.h"

using namespace coffre;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto b = HexDecode(text); b.has_value()) COFFRE_CHECK(*HexDecode(HexEncode(*b)) == *b);
  if (auto b = Base64Decode(text); b.has_value()) {
    COFFRE_CHECK(*Base64Decode(Base64Encode(*b)) == *b);
  }
  if (auto b = Base64UrlDecode(text); b.has_value()) {
    COFFRE_CHECK(*Base64UrlDecode(Base64UrlEncode(*b)) == *b);
  }
  return 0;
}
