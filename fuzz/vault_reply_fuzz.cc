// Fuzzes how the hub reads its vault's replies (keys/vault_replies.h and
// VaultHttpClient::ToStatus): what a vault, or whatever answers in its place, sends back to the
// key monitor's get / wrapKey / unwrapKey calls. Input layout: byte 0 picks the HTTP status
// (2xx replies go to the body readers, others to the error mapping), the rest is the body, parsed
// as VaultHttpClient parses it. Nothing may throw or crash; a malformed 2xx body is UNAVAILABLE
// (or OpenFailed for an undecodable unwrapped key), never OK with garbage.
#include <cstdint>

#include <nlohmann/json.hpp>

#include "common/check.h"
#include "crypto/secure_heap.h"
#include "keys/vault_http_client.h"
#include "keys/vault_replies.h"

using namespace coffre;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool heap = crypto::InitSecureHeap().ok();
  COFFRE_CHECK(heap);
  if (size == 0) return 0;
  static constexpr unsigned kStatuses[] = {200, 201, 204, 400, 401, 403, 404, 405,
                                           409, 413, 429, 500, 503, 302, 0,   999};
  keys::VaultReply reply;
  reply.status = kStatuses[data[0] % std::size(kStatuses)];
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (!text.empty()) {
    reply.body = nlohmann::json::parse(text, nullptr, false);
    if (reply.body.is_discarded()) reply.body = nullptr;
  }
  Status status = keys::VaultHttpClient::ToStatus(reply);
  COFFRE_CHECK(status.ok() == (reply.status >= 200 && reply.status < 300));
  if (!status.ok()) return 0;

  Result<keys::KeyReply> key = keys::ReadKeyReply(reply.body, 1'800'000'000);
  if (key.has_value()) {
    COFFRE_CHECK(!key->description.id.empty() && !key->description.name.empty());
  } else {
    COFFRE_CHECK(key.error().code() == StatusCode::kUnavailable);
  }
  auto wrapped = keys::ReadWrapReply(reply.body);
  COFFRE_CHECK(wrapped.has_value() || wrapped.error().code() == StatusCode::kUnavailable);
  nlohmann::json body = reply.body;
  auto unwrapped = keys::ReadUnwrapReply(body);
  if (unwrapped.has_value()) {
    // The value was read, then wiped in place.
    COFFRE_CHECK(body["value"].get_ref<const std::string&>().empty());
  }
  return 0;
}
