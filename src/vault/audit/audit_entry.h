#pragma once
// One line of the vault's audit log: what was asked (principal, operation, key, version), what
// came of it (HTTP status, error code), when and from where, chained to the line before by an
// HMAC-SHA-256 under the vault's audit key. Entries hold no tokens, key material, request
// bodies or wrapped values. Layout and chain: docs/formats/audit-log.md.
// Value types and stateless functions, thread-safe.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/result.h"
#include "crypto/secret_bytes.h"

namespace coffre::vault {

// HKDF label of the audit chain key (RootKey::DeriveKey under the vault master key); no other
// derived key uses it.
inline constexpr std::string_view kAuditKeyLabel = "vault-audit-log-v1";

// The principal of entries the vault writes about itself (not a valid principal name).
inline constexpr std::string_view kVaultPrincipal = "(vault)";

using AuditMac = std::array<std::byte, 32>;

struct AuditEntry {
  uint64_t seq = 0;      // 1, 2, ...: set by the log
  int64_t time_ms = 0;   // set by the log
  std::string principal;  // "" for a request that did not authenticate
  std::string op;         // "wrapKey", "getKey", "setPrincipal", ... (audit_request.h)
  std::string key;        // key name (or principal name for principal operations), or ""
  std::string version;    // key version, or ""
  unsigned status = 0;    // HTTP status of the reply
  std::string code;       // the reply's error code (innererror's if any), "" on success
  std::string client;     // the client's IP address
  uint64_t count = 0;     // a summary's number of requests (0: not a summary, not written)
};

// The MAC-covered part of an entry's line: `{"seq":1,...,"client":"..."` (no closing brace).
// Text fields are clipped to a few hundred bytes and JSON-escaped (invalid UTF-8 replaced).
std::string AuditBody(const AuditEntry& entry);
// The same in two steps: the fields after seq and time (`,"principal":...`), which the log
// renders before it takes its lock, then the body around them.
std::string AuditFields(const AuditEntry& entry);
std::string AuditBody(uint64_t seq, int64_t time_ms, std::string_view fields);

// HMAC-SHA-256(key, prev || body): an entry's MAC chains its body to the MAC before it.
Result<AuditMac> ChainMac(const crypto::SecretBytes& key, const AuditMac& prev,
                          std::string_view body);

// The whole line, without its newline: body + `,"mac":"<64 hex>"}`.
std::string AuditLine(std::string_view body, const AuditMac& mac);

// A line split into its MAC-covered body, its stated MAC and its sequence number; nullopt if
// it does not have the shape AuditLine makes.
struct AuditLineParts {
  std::string_view body;
  AuditMac mac{};
  uint64_t seq = 0;
};
std::optional<AuditLineParts> SplitAuditLine(std::string_view line);

// The entry's fields (for display; says nothing about authenticity); nullopt if malformed.
std::optional<AuditEntry> ParseAuditLine(std::string_view line);

}  // namespace coffre::vault
