#pragma once
// PgNotifyKey: the hub nodes' notifications authenticated. Anyone who can connect to the
// store as the hub's role can NOTIFY on its channels; unauthenticated, a forged line could close
// a device's connections on every node or make every node announce all it holds. So each
// payload carries a MAC under a key only hub nodes hold, derived from the service key (as the
// row cipher's keys are, which a database administrator does not have), and the time it was
// sent: "MAC TIME_MS BODY", MAC = the first 16 bytes of HMAC-SHA256(key, channel "\n" TIME_MS
// "\n" BODY) in hex. A listener drops a payload whose MAC does not match (compared in constant
// time) or that was sent more than kNotifyMaxAge ago or ahead (a replay; the nodes' clocks must
// agree, as cluster mode already asks). Thread-safe (immutable).

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "crypto/secret_bytes.h"

namespace coffre::pgstore {

inline constexpr std::chrono::seconds kNotifyMaxAge{60};
// What signing adds to a payload: the MAC, the time and two spaces.
inline constexpr size_t kNotifyOverhead = 32 + 1 + 20 + 1;

class PgNotifyKey {
 public:
  static Result<std::unique_ptr<PgNotifyKey>> Create(const crypto::SecretBytes& service_key);

  Result<std::string> Sign(std::string_view channel, std::string_view body, int64_t now_ms) const;
  // The body of a payload signed for `channel` within kNotifyMaxAge of `now_ms`; nullopt if not.
  std::optional<std::string_view> Verify(std::string_view channel, std::string_view payload,
                                         int64_t now_ms) const;

 private:
  explicit PgNotifyKey(crypto::SecretBytes key) : key_(std::move(key)) {}
  Result<std::string> Mac(std::string_view channel, std::string_view time,
                          std::string_view body) const;
  crypto::SecretBytes key_;
};

}  // namespace coffre::pgstore
