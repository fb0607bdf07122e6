#include "crypto/webhook_signature.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <charconv>
#include <optional>
#include <vector>

#include "common/encoding.h"
#include "common/strings.h"

namespace coffre::crypto {
namespace {

using Mac = std::array<std::byte, 32>;

Result<Mac> ComputeMac(const SecretBytes& secret, int64_t t, std::string_view body) {
  std::string message = std::to_string(t) + ".";
  message.append(body);
  Mac mac{};
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), secret.Reveal().data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(),
           reinterpret_cast<unsigned char*>(mac.data()), &len) == nullptr ||
      len != mac.size()) {
    return Internal("HMAC-SHA-256 failed");
  }
  return mac;
}

}  // namespace

Result<std::string> SignWebhook(const SecretBytes& secret, int64_t unix_seconds,
                                std::string_view body) {
  if (secret.empty()) return InvalidArgument("an empty webhook secret signs nothing");
  COFFRE_ASSIGN_OR_RETURN(Mac mac, ComputeMac(secret, unix_seconds, body));
  return "t=" + std::to_string(unix_seconds) + ",v1=" + HexEncode(mac);
}

Status VerifyWebhook(const SecretBytes& secret, std::string_view header, std::string_view body,
                     int64_t now, int64_t tolerance_s) {
  if (secret.empty()) return Unauthenticated("no webhook secret is configured");
  if (header.empty() || header.size() > 1024) {
    return Unauthenticated("missing or oversized Coffre-Signature header");
  }
  std::optional<int64_t> t;
  std::vector<std::string_view> macs;
  for (std::string_view item : Split(header, ',')) {
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    if (item.substr(0, 2) == "t=") {
      int64_t value = 0;
      std::string_view digits = item.substr(2);
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
      if (ec != std::errc() || end != digits.data() + digits.size() || t) {
        return Unauthenticated("malformed Coffre-Signature timestamp");
      }
      t = value;
    } else if (item.substr(0, 3) == "v1=") {
      macs.push_back(item.substr(3));
    }  // other schemes: ignored, as a newer sender may add them
  }
  if (!t || macs.empty()) return Unauthenticated("Coffre-Signature needs t= and v1=");
  if (*t < now - tolerance_s || *t > now + tolerance_s) {
    return Unauthenticated("Coffre-Signature timestamp outside the accepted window");
  }
  COFFRE_ASSIGN_OR_RETURN(Mac expected, ComputeMac(secret, *t, body));
  bool match = false;
  for (std::string_view hex : macs) {
    Result<Bytes> given = HexDecode(hex);
    if (!given.has_value() || given->size() != expected.size()) continue;
    // No early exit: every candidate is compared in full.
    match |= CRYPTO_memcmp(given->data(), expected.data(), expected.size()) == 0;
  }
  if (!match) return Unauthenticated("Coffre-Signature does not match the body");
  return Status::Ok();
}

}  // namespace coffre::crypto
