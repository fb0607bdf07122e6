#include "hub/registry.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "crypto/random.h"
#include "hub/identity_checks.h"

namespace coffre::hub {
namespace {

using nlohmann::json;
using identity::CheckEtag;
using identity::CheckKey;
using identity::CheckThumbprint;
using identity::RandomKey;

constexpr std::string_view kRowPrefix = "dev/";

Status DeviceNotFound(const std::string& id) {
  return NotFound("Device " + id + " not found.");
}

json ToJson(const DeviceIdentity& d) {
  return {{"deviceId", d.device_id},
          {"generationId", d.generation_id},
          {"etag", d.etag},
          {"status", d.status == DeviceStatus::kEnabled ? "enabled" : "disabled"},
          {"statusReason", d.status_reason},
          {"authType", AuthTypeName(d.auth_type)},
          {"primaryKey", d.primary_key},
          {"secondaryKey", d.secondary_key},
          {"primaryThumbprint", d.primary_thumbprint},
          {"secondaryThumbprint", d.secondary_thumbprint},
          {"connected", d.connected},
          {"statusUpdatedMs", d.status_updated_ms},
          {"connectionStateUpdatedMs", d.connection_state_updated_ms},
          {"lastActivityMs", d.last_activity_ms}};
}

Result<DeviceIdentity> FromJson(const json& j) {
  if (!j.is_object() || !j["deviceId"].is_string()) return DataLoss("device record is malformed");
  DeviceIdentity d;
  d.device_id = j["deviceId"].get<std::string>();
  d.generation_id = j.value("generationId", "");
  d.etag = j.value("etag", "");
  d.status = j.value("status", "enabled") == "disabled" ? DeviceStatus::kDisabled : DeviceStatus::kEnabled;
  d.status_reason = j.value("statusReason", "");
  d.auth_type = ParseAuthType(j.value("authType", "sas")).value_or(AuthType::kSas);
  d.primary_key = j.value("primaryKey", "");
  d.secondary_key = j.value("secondaryKey", "");
  d.primary_thumbprint = j.value("primaryThumbprint", "");
  d.secondary_thumbprint = j.value("secondaryThumbprint", "");
  d.connected = j.value("connected", false);
  d.status_updated_ms = j.value("statusUpdatedMs", int64_t{0});
  d.connection_state_updated_ms = j.value("connectionStateUpdatedMs", int64_t{0});
  d.last_activity_ms = j.value("lastActivityMs", int64_t{0});
  return d;
}

}  // namespace

std::string_view AuthTypeName(AuthType type) {
  switch (type) {
    case AuthType::kSas: return "sas";
    case AuthType::kSelfSigned: return "selfSigned";
    case AuthType::kCertificateAuthority: return "certificateAuthority";
    case AuthType::kNone: return "none";
  }
  return "none";
}

std::optional<AuthType> ParseAuthType(std::string_view name) {
  for (AuthType t : {AuthType::kSas, AuthType::kSelfSigned, AuthType::kCertificateAuthority,
                     AuthType::kNone}) {
    if (AuthTypeName(t) == name) return t;
  }
  return std::nullopt;
}

bool ValidDeviceId(std::string_view id) {
  static constexpr std::string_view kSpecial = "-.%_*?!(),:=@$'";
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           kSpecial.find(c) != std::string_view::npos;
  });
}

Registry::Registry(storage::KvStore& kv, HubKeys& keys, const Clock& clock)
    : rows_(kv, keys), clock_(clock) {}

Result<std::string> Registry::RowKey(const std::string& device_id) {
  return rows_.HashedRow(kRowPrefix, "registry-row-names", device_id);
}

Result<DeviceIdentity> Registry::Load(const std::string& row) {
  COFFRE_ASSIGN_OR_RETURN(json j, rows_.Load(row));
  return FromJson(j);
}

Result<std::string> Registry::NewEtag() { return identity::NewEtag(); }

Result<DeviceIdentity> Registry::Create(DeviceIdentity d) {
  if (!ValidDeviceId(d.device_id)) {
    return InvalidArgument("The device id '" + d.device_id + "' is invalid: 1-128 of a-z A-Z 0-9 - . % _ * ? ! ( ) , : = @ $ '.");
  }
  if (d.auth_type == AuthType::kSas) {
    if (d.primary_key.empty()) {
      COFFRE_ASSIGN_OR_RETURN(d.primary_key, RandomKey());
    }
    if (d.secondary_key.empty()) {
      COFFRE_ASSIGN_OR_RETURN(d.secondary_key, RandomKey());
    }
    COFFRE_RETURN_IF_ERROR(CheckKey("primary key", d.primary_key));
    COFFRE_RETURN_IF_ERROR(CheckKey("secondary key", d.secondary_key));
  }
  COFFRE_RETURN_IF_ERROR(CheckThumbprint(d.primary_thumbprint));
  COFFRE_RETURN_IF_ERROR(CheckThumbprint(d.secondary_thumbprint));
  COFFRE_ASSIGN_OR_RETURN(std::string row, RowKey(d.device_id));
  COFFRE_ASSIGN_OR_RETURN(d.etag, NewEtag());
  // Checked and written in one transaction: of two creates (on two hub nodes), one wins.
  Status created = rows_.Update(row, [&](Result<json> existing) -> Result<std::optional<json>> {
    if (existing.has_value()) {
      return AlreadyExists("A device with ID '" + d.device_id + "' is already registered.");
    }
    if (existing.error().code() != StatusCode::kNotFound) return existing.error();
    int64_t now = clock_.NowMillis();
    COFFRE_ASSIGN_OR_RETURN(d.generation_id, identity::NewGenerationId(now));
    d.status_updated_ms = now;
    d.connected = false;
    return std::optional<json>(ToJson(d));
  });
  COFFRE_RETURN_IF_ERROR(created);
  return d;
}

Result<DeviceIdentity> Registry::Get(const std::string& device_id) {
  COFFRE_ASSIGN_OR_RETURN(std::string row, RowKey(device_id));
  Result<DeviceIdentity> d = Load(row);
  if (!d.has_value() && d.error().code() == StatusCode::kNotFound) return DeviceNotFound(device_id);
  return d;
}

Result<DeviceIdentity> Registry::Update(DeviceIdentity d, const std::string& if_match) {
  std::string id = d.device_id;
  Result<DeviceIdentity> updated = UpdateStored(std::move(d), if_match);
  if (updated.has_value()) NotifyChanged(id, std::nullopt);
  return updated;
}

Status Registry::Delete(const std::string& device_id, const std::string& if_match) {
  Status deleted = DeleteStored(device_id, if_match);
  if (deleted.ok()) NotifyChanged(device_id, std::nullopt);
  return deleted;
}

void Registry::AddListener(IdentityListener& listener) {
  std::lock_guard<std::mutex> guard(listeners_mu_);
  listeners_.push_back(&listener);
}

void Registry::RemoveListener(IdentityListener& listener) {
  std::lock_guard<std::mutex> guard(listeners_mu_);
  std::erase(listeners_, &listener);
}

void Registry::NotifyChanged(const std::string& device_id,
                             const std::optional<std::string>& module_id) {
  ChangedElsewhere(device_id, module_id, nullptr);
}

void Registry::ChangedElsewhere(const std::string& device_id,
                                const std::optional<std::string>& module_id,
                                const IdentityListener* except) {
  std::lock_guard<std::mutex> guard(listeners_mu_);
  for (IdentityListener* l : listeners_) {
    if (l != except) l->IdentityChanged(device_id, module_id);
  }
}

Result<DeviceIdentity> Registry::UpdateStored(DeviceIdentity d, const std::string& if_match) {
  COFFRE_ASSIGN_OR_RETURN(std::string row, RowKey(d.device_id));
  COFFRE_RETURN_IF_ERROR(CheckThumbprint(d.primary_thumbprint));
  COFFRE_RETURN_IF_ERROR(CheckThumbprint(d.secondary_thumbprint));
  COFFRE_ASSIGN_OR_RETURN(std::string etag, NewEtag());
  const DeviceIdentity asked = d;
  // The etag checked against the row as it is when written, on every hub node.
  Status updated = rows_.Update(row, [&](Result<json> stored) -> Result<std::optional<json>> {
    if (!stored.has_value()) {
      if (stored.error().code() == StatusCode::kNotFound) return DeviceNotFound(asked.device_id);
      return stored.error();
    }
    COFFRE_ASSIGN_OR_RETURN(DeviceIdentity current, FromJson(*stored));
    COFFRE_RETURN_IF_ERROR(CheckEtag(if_match, current.etag, /*absent_matches=*/false));
    d = asked;
    // Keys left empty in an update keep their current values.
    if (d.auth_type == AuthType::kSas) {
      if (d.primary_key.empty()) d.primary_key = current.primary_key;
      if (d.secondary_key.empty()) d.secondary_key = current.secondary_key;
      COFFRE_RETURN_IF_ERROR(CheckKey("primary key", d.primary_key));
      COFFRE_RETURN_IF_ERROR(CheckKey("secondary key", d.secondary_key));
    }
    d.generation_id = current.generation_id;
    d.connected = current.connected;
    d.connection_state_updated_ms = current.connection_state_updated_ms;
    d.last_activity_ms = current.last_activity_ms;
    d.status_updated_ms = d.status != current.status ? clock_.NowMillis() : current.status_updated_ms;
    d.etag = etag;
    return std::optional<json>(ToJson(d));
  });
  COFFRE_RETURN_IF_ERROR(updated);
  return d;
}

Status Registry::DeleteStored(const std::string& device_id, const std::string& if_match) {
  std::lock_guard<std::mutex> guard(mu_);  // no module created meanwhile (CreateModule)
  COFFRE_ASSIGN_OR_RETURN(std::string row, RowKey(device_id));
  // Its modules go with it, in the same write.
  COFFRE_ASSIGN_OR_RETURN(std::string modules, ModuleRowPrefix(device_id));
  COFFRE_ASSIGN_OR_RETURN(std::vector<std::string> gone, rows_.Rows(modules));
  return rows_.Update(row, [&](Result<json> stored) -> Result<std::optional<json>> {
    if (!stored.has_value()) {
      if (stored.error().code() == StatusCode::kNotFound) return DeviceNotFound(device_id);
      return stored.error();
    }
    COFFRE_ASSIGN_OR_RETURN(DeviceIdentity current, FromJson(*stored));
    COFFRE_RETURN_IF_ERROR(CheckEtag(if_match, current.etag, /*absent_matches=*/true));
    return std::optional<json>();
  }, /*sync=*/true, gone);
}

Result<DevicePage> Registry::List(size_t max_devices, const std::string& continuation) {
  DevicePage page;
  // One more than asked, to know whether more follow.
  COFFRE_ASSIGN_OR_RETURN(std::vector<std::string> rows,
                          rows_.Rows(kRowPrefix, max_devices + 1, continuation));
  if (rows.size() > max_devices) {
    rows.resize(max_devices);
    page.continuation = rows.back();
  }
  for (const std::string& row : rows) {
    COFFRE_ASSIGN_OR_RETURN(DeviceIdentity d, Load(row));
    page.devices.push_back(std::move(d));
  }
  return page;
}

Status Registry::SetConnected(const std::string& device_id, bool connected) {
  COFFRE_ASSIGN_OR_RETURN(std::string row, RowKey(device_id));
  // A read-modify-write of the row as it is now: a change made meanwhile (on another hub
  // node too: a device disabled, deleted, its keys rolled) is kept, never written over.
  return rows_.Update(row, [&](Result<json> stored) -> Result<std::optional<json>> {
    if (!stored.has_value()) return stored.error();
    COFFRE_ASSIGN_OR_RETURN(DeviceIdentity d, FromJson(*stored));
    int64_t now = clock_.NowMillis();
    d.connected = connected;
    d.connection_state_updated_ms = now;
    d.last_activity_ms = now;
    return std::optional<json>(ToJson(d));
  }, /*sync=*/false);
}

}  // namespace coffre::hub
