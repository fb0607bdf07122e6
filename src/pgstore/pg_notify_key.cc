#include "pgstore/pg_notify_key.h"

#include <openssl/crypto.h>

#include <charconv>

#include "common/encoding.h"
#include "crypto/hkdf.h"
#include "crypto/hmac.h"

namespace coffre::pgstore {

Result<std::unique_ptr<PgNotifyKey>> PgNotifyKey::Create(const crypto::SecretBytes& service_key) {
  COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes key,
                          crypto::HkdfSha256(service_key, "coffre pg notifications"));
  return std::unique_ptr<PgNotifyKey>(new PgNotifyKey(std::move(key)));
}

Result<std::string> PgNotifyKey::Mac(std::string_view channel, std::string_view time,
                                     std::string_view body) const {
  std::string signed_text;
  signed_text.reserve(channel.size() + time.size() + body.size() + 2);
  signed_text.append(channel).append("\n").append(time).append("\n").append(body);
  COFFRE_ASSIGN_OR_RETURN(Bytes mac, crypto::HmacSha256(key_, AsBytes(signed_text)));
  return HexEncode(ByteSpan(mac).first(16));
}

Result<std::string> PgNotifyKey::Sign(std::string_view channel, std::string_view body,
                                      int64_t now_ms) const {
  const std::string time = std::to_string(now_ms);
  COFFRE_ASSIGN_OR_RETURN(std::string mac, Mac(channel, time, body));
  return mac + " " + time + " " + std::string(body);
}

std::optional<std::string_view> PgNotifyKey::Verify(std::string_view channel,
                                                    std::string_view payload,
                                                    int64_t now_ms) const {
  size_t first = payload.find(' ');
  if (first != 32) return std::nullopt;
  size_t second = payload.find(' ', first + 1);
  if (second == payload.npos) return std::nullopt;
  std::string_view time = payload.substr(first + 1, second - first - 1);
  int64_t sent_ms = 0;
  if (std::from_chars(time.data(), time.data() + time.size(), sent_ms).ec != std::errc() ||
      std::to_string(sent_ms) != time) {
    return std::nullopt;
  }
  const int64_t max_age_ms = std::chrono::milliseconds(kNotifyMaxAge).count();
  if (sent_ms < now_ms - max_age_ms || sent_ms > now_ms + max_age_ms) return std::nullopt;
  std::string_view body = payload.substr(second + 1);
  Result<std::string> expected = Mac(channel, time, body);
  if (!expected.has_value()) return std::nullopt;
  if (CRYPTO_memcmp(expected->data(), payload.data(), 32) != 0) return std::nullopt;
  return body;
}

}  // namespace coffre::pgstore
