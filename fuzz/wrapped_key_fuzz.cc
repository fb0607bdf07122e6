// Fuzzes the stored form of a wrapped key (JSON read back from disk): parse, and if it parses,
// serialize and parse again to the same value.
#include <cstdint>

#include "common/check.h"
#include "crypto/key_provider.h"

using namespace coffre;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto wrapped = crypto::ParseWrappedKey(text);
  if (wrapped.has_value()) {
    auto again = crypto::ParseWrappedKey(crypto::SerializeWrappedKey(*wrapped));
    COFFRE_CHECK(again.has_value() && *again == *wrapped);
  }
  return 0;
}
