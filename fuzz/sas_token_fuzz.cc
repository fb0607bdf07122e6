// Fuzzes SAS token parsing (MQTT CONNECT passwords and HTTP Authorization headers are untrusted)
// and, for what parses, verification, the audience and scope parsers and the scope check against
// the input taken as a request path: never a crash.
#include <cstdint>

#include "common/check.h"
#include "crypto/secure_heap.h"
#include "hub/sas_token.h"

using namespace coffre;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const crypto::SecretBytes* key = [] {
    COFFRE_CHECK(crypto::InitSecureHeap().ok());
    return new crypto::SecretBytes(std::move(crypto::SecretBytes::Random(32).value()));
  }();
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto token = hub::ParseSasToken(text);
  if (token.has_value()) {
    COFFRE_CHECK(token->signature.size() == 32);
    (void)hub::VerifySasToken(*token, *key, 1'800'000'000);
    (void)hub::ParseSasAudience(token->resource);
    auto scope = hub::ParseSasScope(token->resource);
    if (scope.has_value()) {
      (void)hub::ScopeCovers(*scope, hub::ResourceOfPath(token->resource));
      (void)hub::ScopeCovers(*scope, hub::DeviceResource("d", "m"));
    }
  }
  hub::SasResource path = hub::ResourceOfPath(text);
  auto scope = hub::ParseSasScope(text);
  if (scope.has_value()) (void)hub::ScopeCovers(*scope, path);
  return 0;
}
