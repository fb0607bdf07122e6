#pragma once
// KeyEvent: something that happened to a key or to the vault's access policies, as Azure Key
// Vault reports it to Event Grid (Microsoft.KeyVault.* types), plus Coffre's own types for the
// lifecycle changes Azure does not publish. Producers (KeyVault, AccessControl, the rotation
// scheduler) publish to a KeyEventSink; the sink owns delivery (webhooks, retries).
// Publish() must not block and must not call back into the producer: producers may hold locks.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace coffre::vault {

namespace event_type {
inline constexpr std::string_view kKeyNewVersionCreated = "Microsoft.KeyVault.KeyNewVersionCreated";
inline constexpr std::string_view kKeyNearExpiry = "Microsoft.KeyVault.KeyNearExpiry";
inline constexpr std::string_view kKeyExpired = "Microsoft.KeyVault.KeyExpired";
inline constexpr std::string_view kVaultAccessPolicyChanged =
    "Microsoft.KeyVault.VaultAccessPolicyChanged";
inline constexpr std::string_view kKeyDisabled = "Coffre.KeyVault.KeyDisabled";
inline constexpr std::string_view kKeyEnabled = "Coffre.KeyVault.KeyEnabled";
inline constexpr std::string_view kKeyDeleted = "Coffre.KeyVault.KeyDeleted";
inline constexpr std::string_view kKeyRecovered = "Coffre.KeyVault.KeyRecovered";
inline constexpr std::string_view kKeyPurged = "Coffre.KeyVault.KeyPurged";
}  // namespace event_type

struct KeyEvent {
  std::string type;         // one of event_type
  std::string object_name;  // the key's name; empty for vault-level events
  std::string version;      // the version concerned; empty when not about one version
  std::optional<int64_t> nbf, exp;
  int64_t time = 0;  // vault clock, seconds since the epoch
};

class KeyEventSink {
 public:
  virtual ~KeyEventSink() = default;
  virtual void Publish(const KeyEvent& event) = 0;
};

}  // namespace coffre::vault
