#include "crypto/key_provider.h"

#include <nlohmann/json.hpp>

#include "common/encoding.h"

namespace coffre::crypto {

std::string_view KeyStateName(KeyState state) {
  switch (state) {
    case KeyState::kEnabled: return "enabled";
    case KeyState::kDisabled: return "disabled";
    case KeyState::kExpired: return "expired";
    case KeyState::kNotYetValid: return "not-yet-valid";
    case KeyState::kDeleted: return "deleted";
  }
  return "unknown";
}

std::string SerializeWrappedKey(const WrappedKey& wrapped) {
  nlohmann::json j = {{"kid", wrapped.key_id},
                      {"alg", wrapped.algorithm},
                      {"value", Base64UrlEncode(wrapped.ciphertext)}};
  return j.dump();
}

Result<WrappedKey> ParseWrappedKey(std::string_view json) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("wrapped key: not a JSON object");
  auto text = [&](const char* field) -> const std::string* {
    auto it = j.find(field);
    if (it == j.end() || !it->is_string()) return nullptr;
    return it->get_ptr<const std::string*>();
  };
  const std::string* kid = text("kid");
  const std::string* alg = text("alg");
  const std::string* value = text("value");
  if (kid == nullptr || alg == nullptr || value == nullptr) {
    return InvalidArgument("wrapped key: needs string fields kid, alg and value");
  }
  COFFRE_ASSIGN_OR_RETURN(Bytes ciphertext, Base64UrlDecode(*value));
  return WrappedKey{*kid, *alg, std::move(ciphertext)};
}

KeyAccess ClassifyKeyAccess(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return KeyAccess::kGranted;
    case StatusCode::kPermissionDenied:
    case StatusCode::kUnauthenticated:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kNotFound: return KeyAccess::kRevoked;
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded: return KeyAccess::kUnreachable;
    default: return KeyAccess::kBroken;
  }
}

}  // namespace coffre::crypto
