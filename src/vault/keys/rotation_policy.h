#pragma once
// RotationPolicy: a key's rotation policy as Azure Key Vault defines it
// (docs/VAULT.md, rotation policies): lifetime actions (Rotate by timeAfterCreate or
// timeBeforeExpiry, Notify by timeBeforeExpiry) and an expiryTime that rotation gives each new
// version. Azure's validation by default: expiryTime >= 28 days; a rotation at least 7 days after
// creation and at least 7 days before expiry; timeBeforeExpiry rotation only with an expiryTime;
// Notify only by timeBeforeExpiry; at most one Rotate and one Notify. A policy set without a
// Notify gets Azure's default one (30 days before expiry), as Azure answers.
// Value types; the functions are stateless.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "vault/keys/iso_duration.h"

namespace coffre::vault {

enum class LifetimeActionType { kRotate, kNotify };
enum class LifetimeTrigger { kTimeAfterCreate, kTimeBeforeExpiry };

struct LifetimeAction {
  LifetimeActionType type = LifetimeActionType::kNotify;
  LifetimeTrigger trigger = LifetimeTrigger::kTimeBeforeExpiry;
  IsoDuration time;
};

struct RotationPolicy {
  std::vector<LifetimeAction> actions;
  std::optional<IsoDuration> expiry_time;
  std::optional<int64_t> created, updated;  // unset: never set, the default policy

  // What a key answers before any policy is set: Notify 30 days before expiry.
  static RotationPolicy Default();
  const LifetimeAction* Find(LifetimeActionType type) const;  // nullptr if absent
};

// The body of PUT /keys/{n}/rotationpolicy ({"lifetimeActions":[...],"attributes":{...}}),
// checked against Azure's default validation and completed with the default Notify action.
// INVALID_ARGUMENT with a message naming the field for anything else. id, created and
// updated in the body are ignored: the vault sets them.
Result<RotationPolicy> ParseRotationPolicyUpdate(const nlohmann::json& body);

// Azure's wire shape: {"id","lifetimeActions":[{"trigger":{..},"action":{"type"}}],
// "attributes":{"expiryTime"?,"created"?,"updated"?}}.
nlohmann::json RotationPolicyToWire(const RotationPolicy& policy, const std::string& id);

// The sealed record's shape: the wire shape without id.
nlohmann::json RotationPolicyToRecord(const RotationPolicy& policy);
Result<RotationPolicy> RotationPolicyFromRecord(const nlohmann::json& record);

}  // namespace coffre::vault
