#include "hub/identity_checks.h"

#include <algorithm>
#include <cctype>

#include "common/encoding.h"
#include "crypto/random.h"
#include "crypto/secret_bytes.h"

namespace coffre::hub::identity {

Status CheckKey(const std::string& name, const std::string& key) {
  Result<Bytes> raw = Base64Decode(key);
  if (!raw.has_value() || raw->size() < 16 || raw->size() > 64) {
    return InvalidArgument("The " + name + " must be base64 of 16 to 64 bytes.");
  }
  crypto::Cleanse(*raw);
  return Status::Ok();
}

Status CheckThumbprint(const std::string& t) {
  bool hex = std::all_of(t.begin(), t.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
  if (!t.empty() && (!hex || (t.size() != 40 && t.size() != 64))) {
    return InvalidArgument("A thumbprint must be the hex SHA-1 (40) or SHA-256 (64) of a certificate.");
  }
  return Status::Ok();
}

Status CheckEtag(const std::string& if_match, const std::string& etag, bool absent_matches,
                 const std::string& what) {
  std::string wanted = if_match;
  if (wanted.size() >= 2 && wanted.front() == '"' && wanted.back() == '"') {
    wanted = wanted.substr(1, wanted.size() - 2);
  }
  if ((wanted.empty() && absent_matches) || wanted == "*" || wanted == etag) return Status::Ok();
  return FailedPrecondition("The etag does not match the " + what + "'s current etag.");
}

Result<std::string> RandomKey() {
  COFFRE_ASSIGN_OR_RETURN(auto raw, crypto::SecretBytes::Random(32));
  return Base64Encode(raw.Reveal());
}

Result<std::string> NewEtag() {
  Bytes raw(8);
  COFFRE_RETURN_IF_ERROR(crypto::RandomBytes(raw));
  return Base64Encode(raw);
}

Result<std::string> NewGenerationId(int64_t now_ms) {
  Bytes rnd(4);
  COFFRE_RETURN_IF_ERROR(crypto::RandomBytes(rnd));
  return std::to_string(now_ms) + std::to_string(GetU32(rnd.data()) % 1000000);
}

}  // namespace coffre::hub::identity
