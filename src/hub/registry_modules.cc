// Registry: the module identities of devices (declared in registry.h).

#include <nlohmann/json.hpp>

#include "hub/identity_checks.h"
#include "hub/registry.h"

namespace coffre::hub {
namespace {

using nlohmann::json;

constexpr std::string_view kModulePrefix = "mod/";

Status ModuleNotFound(const std::string& device_id, const std::string& module_id) {
  return NotFound("Module " + module_id + " on device " + device_id + " not found.")
      .WithDetail("ModuleNotFound");
}

json ToJson(const ModuleIdentity& m) {
  return {{"deviceId", m.device_id},
          {"moduleId", m.module_id},
          {"generationId", m.generation_id},
          {"etag", m.etag},
          {"managedBy", m.managed_by},
          {"authType", AuthTypeName(m.auth_type)},
          {"primaryKey", m.primary_key},
          {"secondaryKey", m.secondary_key},
          {"primaryThumbprint", m.primary_thumbprint},
          {"secondaryThumbprint", m.secondary_thumbprint},
          {"connected", m.connected},
          {"connectionStateUpdatedMs", m.connection_state_updated_ms},
          {"lastActivityMs", m.last_activity_ms}};
}

// The record is the hub's own (sealed, authenticated), but read it typed all the same.
std::string Text(const json& j, const char* field) {
  auto it = j.find(field);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}
int64_t Number(const json& j, const char* field) {
  auto it = j.find(field);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

Result<ModuleIdentity> ModuleFromJson(const json& j) {
  if (!j.is_object() || !j.contains("deviceId") || !j["deviceId"].is_string() ||
      !j.contains("moduleId") || !j["moduleId"].is_string()) {
    return DataLoss("module record is malformed");
  }
  ModuleIdentity m;
  m.device_id = Text(j, "deviceId");
  m.module_id = Text(j, "moduleId");
  m.generation_id = Text(j, "generationId");
  m.etag = Text(j, "etag");
  m.managed_by = Text(j, "managedBy");
  m.auth_type = ParseAuthType(Text(j, "authType")).value_or(AuthType::kSas);
  m.primary_key = Text(j, "primaryKey");
  m.secondary_key = Text(j, "secondaryKey");
  m.primary_thumbprint = Text(j, "primaryThumbprint");
  m.secondary_thumbprint = Text(j, "secondaryThumbprint");
  auto connected = j.find("connected");
  m.connected = connected != j.end() && connected->is_boolean() && connected->get<bool>();
  m.connection_state_updated_ms = Number(j, "connectionStateUpdatedMs");
  m.last_activity_ms = Number(j, "lastActivityMs");
  return m;
}

// Keys left empty are generated (create) or kept (update); given ones are checked.
Status FillKeys(ModuleIdentity& m, const ModuleIdentity* current) {
  COFFRE_RETURN_IF_ERROR(identity::CheckThumbprint(m.primary_thumbprint));
  COFFRE_RETURN_IF_ERROR(identity::CheckThumbprint(m.secondary_thumbprint));
  if (m.auth_type != AuthType::kSas) return Status::Ok();
  for (auto [key, kept] : {std::pair{&m.primary_key, current ? &current->primary_key : nullptr},
                           std::pair{&m.secondary_key, current ? &current->secondary_key : nullptr}}) {
    if (key->empty() && kept != nullptr && !kept->empty()) *key = *kept;
    if (key->empty()) {
      COFFRE_ASSIGN_OR_RETURN(*key, identity::RandomKey());
    }
  }
  COFFRE_RETURN_IF_ERROR(identity::CheckKey("primary key", m.primary_key));
  return identity::CheckKey("secondary key", m.secondary_key);
}

}  // namespace

bool ValidModuleId(std::string_view id) { return ValidDeviceId(id); }

// mod/{device row hash}/{hash of device id + "/" + module id}: a device's modules are one
// prefix (listed and erased with it), and equal module names on two devices look unrelated.
Result<std::string> Registry::ModuleRowPrefix(const std::string& device_id) {
  COFFRE_ASSIGN_OR_RETURN(std::string device_row, RowKey(device_id));
  return std::string(kModulePrefix) + device_row.substr(device_row.find('/') + 1) + "/";
}

Result<std::string> Registry::ModuleRow(const std::string& device_id, const std::string& module_id) {
  COFFRE_ASSIGN_OR_RETURN(std::string prefix, ModuleRowPrefix(device_id));
  return rows_.HashedRow(prefix, "registry-module-row-names", device_id + "/" + module_id);
}

Status Registry::DeviceExists(const std::string& row, const std::string& device_id) {
  Result<json> device = rows_.Load(row);
  if (device.has_value()) return Status::Ok();
  if (device.error().code() == StatusCode::kNotFound) {
    return NotFound("Device " + device_id + " not found.");
  }
  return device.error();
}

Result<ModuleIdentity> Registry::LoadModule(const std::string& row) {
  COFFRE_ASSIGN_OR_RETURN(json j, rows_.Load(row));
  return ModuleFromJson(j);
}

Result<ModuleIdentity> Registry::CreateModule(ModuleIdentity m) {
  if (!ValidDeviceId(m.device_id)) return NotFound("Device " + m.device_id + " not found.");
  if (!ValidModuleId(m.module_id)) {
    return InvalidArgument("The module id '" + m.module_id + "' is invalid: 1-128 of a-z A-Z 0-9 - . % _ * ? ! ( ) , : = @ $ '.");
  }
  COFFRE_RETURN_IF_ERROR(FillKeys(m, nullptr));
  std::lock_guard<std::mutex> guard(mu_);
  COFFRE_ASSIGN_OR_RETURN(std::string device_row, RowKey(m.device_id));
  COFFRE_RETURN_IF_ERROR(DeviceExists(device_row, m.device_id));
  COFFRE_ASSIGN_OR_RETURN(std::string row, ModuleRow(m.device_id, m.module_id));
  COFFRE_ASSIGN_OR_RETURN(m.etag, NewEtag());
  // Checked and written in one transaction: of two creates (on two hub nodes), one wins.
  Status created = rows_.Update(row, [&](Result<json> existing) -> Result<std::optional<json>> {
    if (existing.has_value()) {
      return AlreadyExists("A module with ID '" + m.module_id +
                           "' is already registered on device '" + m.device_id + "'.")
          .WithDetail("ModuleAlreadyExistsOnDevice");
    }
    if (existing.error().code() != StatusCode::kNotFound) return existing.error();
    COFFRE_ASSIGN_OR_RETURN(m.generation_id, identity::NewGenerationId(clock_.NowMillis()));
    m.connected = false;
    m.connection_state_updated_ms = 0;
    m.last_activity_ms = 0;
    return std::optional<json>(ToJson(m));
  });
  COFFRE_RETURN_IF_ERROR(created);
  return m;
}

Result<ModuleIdentity> Registry::GetModule(const std::string& device_id, const std::string& module_id) {
  COFFRE_ASSIGN_OR_RETURN(std::string row, ModuleRow(device_id, module_id));
  Result<ModuleIdentity> m = LoadModule(row);
  if (!m.has_value() && m.error().code() == StatusCode::kNotFound) {
    return ModuleNotFound(device_id, module_id);
  }
  // A record under another name (moved rows cannot open: AAD binds the row; this is belt and
  // braces against a hash collision).
  if (m.has_value() && (m->device_id != device_id || m->module_id != module_id)) {
    return ModuleNotFound(device_id, module_id);
  }
  return m;
}

Result<ModuleIdentity> Registry::UpdateModule(ModuleIdentity m, const std::string& if_match) {
  std::string device_id = m.device_id, module_id = m.module_id;
  Result<ModuleIdentity> updated = UpdateModuleStored(std::move(m), if_match);
  if (updated.has_value()) NotifyChanged(device_id, module_id);
  return updated;
}

Status Registry::DeleteModule(const std::string& device_id, const std::string& module_id,
                              const std::string& if_match) {
  Status deleted = DeleteModuleStored(device_id, module_id, if_match);
  if (deleted.ok()) NotifyChanged(device_id, module_id);
  return deleted;
}

Result<ModuleIdentity> Registry::UpdateModuleStored(ModuleIdentity m, const std::string& if_match) {
  COFFRE_ASSIGN_OR_RETURN(std::string row, ModuleRow(m.device_id, m.module_id));
  COFFRE_ASSIGN_OR_RETURN(std::string etag, NewEtag());
  const ModuleIdentity asked = m;
  // The etag checked against the row as it is when written, on every hub node.
  Status updated = rows_.Update(row, [&](Result<json> stored) -> Result<std::optional<json>> {
    if (!stored.has_value()) {
      if (stored.error().code() == StatusCode::kNotFound) {
        return ModuleNotFound(asked.device_id, asked.module_id);
      }
      return stored.error();
    }
    COFFRE_ASSIGN_OR_RETURN(ModuleIdentity current, ModuleFromJson(*stored));
    COFFRE_RETURN_IF_ERROR(
        identity::CheckEtag(if_match, current.etag, /*absent_matches=*/false, "module"));
    m = asked;
    COFFRE_RETURN_IF_ERROR(FillKeys(m, &current));
    m.generation_id = current.generation_id;
    m.connected = current.connected;
    m.connection_state_updated_ms = current.connection_state_updated_ms;
    m.last_activity_ms = current.last_activity_ms;
    m.etag = etag;
    return std::optional<json>(ToJson(m));
  });
  COFFRE_RETURN_IF_ERROR(updated);
  return m;
}

Status Registry::DeleteModuleStored(const std::string& device_id, const std::string& module_id,
                                    const std::string& if_match) {
  COFFRE_ASSIGN_OR_RETURN(std::string row, ModuleRow(device_id, module_id));
  return rows_.Update(row, [&](Result<json> stored) -> Result<std::optional<json>> {
    if (!stored.has_value()) {
      if (stored.error().code() == StatusCode::kNotFound) return ModuleNotFound(device_id, module_id);
      return stored.error();
    }
    COFFRE_ASSIGN_OR_RETURN(ModuleIdentity current, ModuleFromJson(*stored));
    COFFRE_RETURN_IF_ERROR(
        identity::CheckEtag(if_match, current.etag, /*absent_matches=*/true, "module"));
    return std::optional<json>();
  });
}

Result<std::vector<ModuleIdentity>> Registry::ListModules(const std::string& device_id) {
  std::lock_guard<std::mutex> guard(mu_);
  COFFRE_ASSIGN_OR_RETURN(std::string device_row, RowKey(device_id));
  COFFRE_RETURN_IF_ERROR(DeviceExists(device_row, device_id));
  COFFRE_ASSIGN_OR_RETURN(std::string prefix, ModuleRowPrefix(device_id));
  COFFRE_ASSIGN_OR_RETURN(std::vector<std::string> rows, rows_.Rows(prefix));
  std::vector<ModuleIdentity> out;
  for (const std::string& row : rows) {
    COFFRE_ASSIGN_OR_RETURN(ModuleIdentity m, LoadModule(row));
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace coffre::hub
