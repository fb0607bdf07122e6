#include "vault/keys/rotation_policy.h"

#include <strings.h>

namespace coffre::vault {
namespace {

using nlohmann::json;

constexpr int64_t kMinExpiry = 28 * kSecondsPerDay;
constexpr int64_t kMinRotationMargin = 7 * kSecondsPerDay;
constexpr const char* kDefaultNotify = "P30D";

const char* TypeName(LifetimeActionType type) {
  return type == LifetimeActionType::kRotate ? "Rotate" : "Notify";
}

const char* TriggerName(LifetimeTrigger trigger) {
  return trigger == LifetimeTrigger::kTimeAfterCreate ? "timeAfterCreate" : "timeBeforeExpiry";
}

// A member that is absent or null reads as absent; any other type than `expected` is an error.
Result<const json*> Member(const json& object, const char* name, json::value_t expected,
                           const std::string& where) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return static_cast<const json*>(nullptr);
  if (it->type() != expected) {
    static const char* kTypes[] = {"null", "an object", "an array", "a string"};
    size_t index = static_cast<size_t>(expected);
    return InvalidArgument(where + name + " must be " +
                           (index < std::size(kTypes) ? kTypes[index] : "another type") + ".");
  }
  return &*it;
}

Result<LifetimeAction> ParseAction(const json& item, size_t index) {
  std::string where = "lifetimeActions[" + std::to_string(index) + "]";
  if (!item.is_object()) return InvalidArgument(where + " must be an object.");
  COFFRE_ASSIGN_OR_RETURN(const json* action,
                          Member(item, "action", json::value_t::object, where + "."));
  COFFRE_ASSIGN_OR_RETURN(const json* trigger,
                          Member(item, "trigger", json::value_t::object, where + "."));
  if (action == nullptr) return InvalidArgument(where + ".action is required.");
  if (trigger == nullptr) return InvalidArgument(where + ".trigger is required.");
  COFFRE_ASSIGN_OR_RETURN(const json* type,
                          Member(*action, "type", json::value_t::string, where + ".action."));
  LifetimeAction out;
  std::string type_text = type == nullptr ? "" : type->get<std::string>();
  if (::strcasecmp(type_text.c_str(), "Rotate") == 0) {
    out.type = LifetimeActionType::kRotate;
  } else if (::strcasecmp(type_text.c_str(), "Notify") == 0) {
    out.type = LifetimeActionType::kNotify;
  } else {
    return InvalidArgument(where + ".action.type must be Rotate or Notify.");
  }
  std::optional<LifetimeTrigger> kind;
  for (LifetimeTrigger candidate :
       {LifetimeTrigger::kTimeAfterCreate, LifetimeTrigger::kTimeBeforeExpiry}) {
    std::string field_where = where + ".trigger.";
    COFFRE_ASSIGN_OR_RETURN(const json* time, Member(*trigger, TriggerName(candidate),
                                                     json::value_t::string, field_where));
    if (time == nullptr) continue;
    if (kind) {
      return InvalidArgument(where +
                             ".trigger must have either timeAfterCreate or "
                             "timeBeforeExpiry, not both.");
    }
    kind = candidate;
    COFFRE_ASSIGN_OR_RETURN(out.time, IsoDuration::Parse(time->get<std::string>(),
                                                         field_where + TriggerName(candidate)));
  }
  if (!kind) {
    return InvalidArgument(where + ".trigger needs timeAfterCreate or timeBeforeExpiry.");
  }
  out.trigger = *kind;
  return out;
}

std::string Days(int64_t seconds) { return std::to_string(seconds / kSecondsPerDay) + " days"; }

Status Validate(const RotationPolicy& p) {
  int rotates = 0, notifies = 0;
  for (const auto& a : p.actions) (a.type == LifetimeActionType::kRotate ? rotates : notifies)++;
  if (rotates > 1 || notifies > 1) {
    return InvalidArgument("A rotation policy has at most one Rotate and one Notify action.");
  }
  if (p.expiry_time && p.expiry_time->seconds < kMinExpiry) {
    return InvalidArgument("attributes.expiryTime '" + p.expiry_time->text +
                           "' is too short: the minimum is 28 days (P28D).");
  }
  for (const auto& a : p.actions) {
    if (a.type == LifetimeActionType::kNotify) {
      if (a.trigger != LifetimeTrigger::kTimeBeforeExpiry) {
        return InvalidArgument("A Notify action takes a timeBeforeExpiry trigger only.");
      }
      continue;
    }
    if (a.time.seconds < kMinRotationMargin) {
      return InvalidArgument(std::string("The Rotate action's ") + TriggerName(a.trigger) + " '" +
                             a.time.text + "' is too short: the minimum is 7 days (P7D).");
    }
    if (a.trigger == LifetimeTrigger::kTimeBeforeExpiry && !p.expiry_time) {
      return InvalidArgument("A Rotate action by timeBeforeExpiry needs attributes.expiryTime.");
    }
    if (p.expiry_time && p.expiry_time->seconds - a.time.seconds < kMinRotationMargin) {
      return InvalidArgument(
          std::string("The Rotate action's ") + TriggerName(a.trigger) + " '" + a.time.text +
          "' leaves less than 7 days between creation and rotation or rotation and expiry (" +
          "expiryTime '" + p.expiry_time->text + "' is " + Days(p.expiry_time->seconds) + ").");
    }
  }
  return Status::Ok();
}

// Reads lifetimeActions and expiryTime; created and updated are the caller's business.
Result<RotationPolicy> ParseWire(const json& body) {
  RotationPolicy p;
  COFFRE_ASSIGN_OR_RETURN(const json* actions,
                          Member(body, "lifetimeActions", json::value_t::array, ""));
  if (actions != nullptr) {
    for (size_t i = 0; i < actions->size(); ++i) {
      COFFRE_ASSIGN_OR_RETURN(LifetimeAction a, ParseAction((*actions)[i], i));
      p.actions.push_back(std::move(a));
    }
  }
  COFFRE_ASSIGN_OR_RETURN(const json* attributes,
                          Member(body, "attributes", json::value_t::object, ""));
  if (attributes != nullptr) {
    COFFRE_ASSIGN_OR_RETURN(const json* expiry, Member(*attributes, "expiryTime",
                                                       json::value_t::string, "attributes."));
    if (expiry != nullptr) {
      COFFRE_ASSIGN_OR_RETURN(
          p.expiry_time, IsoDuration::Parse(expiry->get<std::string>(), "attributes.expiryTime"));
    }
  }
  return p;
}

LifetimeAction DefaultNotify() {
  return {LifetimeActionType::kNotify, LifetimeTrigger::kTimeBeforeExpiry,
          IsoDuration::Parse(kDefaultNotify).value()};
}

}  // namespace

RotationPolicy RotationPolicy::Default() {
  RotationPolicy p;
  p.actions.push_back(DefaultNotify());
  return p;
}

const LifetimeAction* RotationPolicy::Find(LifetimeActionType type) const {
  for (const auto& a : actions) {
    if (a.type == type) return &a;
  }
  return nullptr;
}

Result<RotationPolicy> ParseRotationPolicyUpdate(const json& body) {
  if (!body.is_object()) return InvalidArgument("The rotation policy must be a JSON object.");
  COFFRE_ASSIGN_OR_RETURN(RotationPolicy p, ParseWire(body));
  COFFRE_RETURN_IF_ERROR(Validate(p));
  if (p.Find(LifetimeActionType::kNotify) == nullptr) p.actions.push_back(DefaultNotify());
  return p;
}

json RotationPolicyToRecord(const RotationPolicy& policy) {
  json actions = json::array();
  for (const auto& a : policy.actions) {
    actions.push_back({{"trigger", {{TriggerName(a.trigger), a.time.text}}},
                       {"action", {{"type", TypeName(a.type)}}}});
  }
  json attributes = json::object();
  if (policy.expiry_time) attributes["expiryTime"] = policy.expiry_time->text;
  if (policy.created) attributes["created"] = *policy.created;
  if (policy.updated) attributes["updated"] = *policy.updated;
  return {{"lifetimeActions", actions}, {"attributes", attributes}};
}

json RotationPolicyToWire(const RotationPolicy& policy, const std::string& id) {
  json wire = RotationPolicyToRecord(policy);
  wire["id"] = id;
  return wire;
}

Result<RotationPolicy> RotationPolicyFromRecord(const json& record) {
  COFFRE_ASSIGN_OR_RETURN(RotationPolicy p, ParseWire(record));
  auto attributes = record.find("attributes");
  if (attributes != record.end() && attributes->is_object()) {
    for (auto [name, slot] : {std::pair{"created", &p.created}, std::pair{"updated", &p.updated}}) {
      auto it = attributes->find(name);
      if (it != attributes->end() && it->is_number_integer()) *slot = it->get<int64_t>();
    }
  }
  return p;
}

}  // namespace coffre::vault
