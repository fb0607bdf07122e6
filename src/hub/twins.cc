#include "hub/twins.h"

#include "common/time_format.h"

namespace coffre::hub {

using nlohmann::json;

namespace {

json Thumbprints(const std::string& primary, const std::string& secondary) {
  auto nullable = [](const std::string& s) { return s.empty() ? json(nullptr) : json(s); };
  return {{"primaryThumbprint", nullable(primary)}, {"secondaryThumbprint", nullable(secondary)}};
}

// The body's tags and desired properties; INVALID_ARGUMENT for anything a service may not set.
Status ReadBody(const json& body, json& tags, json& desired, bool& has_desired) {
  if (!body.is_object()) return InvalidArgument("The twin body must be a JSON object.");
  tags = json::object();
  desired = json::object();
  has_desired = false;
  for (const auto& [key, value] : body.items()) {
    if (key == "tags") {
      if (!value.is_object() && !value.is_null()) return InvalidArgument("'tags' must be an object.");
      if (value.is_object()) tags = value;
    } else if (key == "properties") {
      if (!value.is_object()) return InvalidArgument("'properties' must be an object.");
      for (const auto& [section, props] : value.items()) {
        if (section != "desired") {
          return InvalidArgument("Only properties.desired can be set by the service; '" +
                                 section.substr(0, 64) + "' cannot.");
        }
        if (!props.is_object()) return InvalidArgument("'properties.desired' must be an object.");
        desired = props;
        has_desired = true;
      }
    }
    // Other fields (deviceId, etag, version, ...) are the twin's own and read-only: Azure's
    // SDKs send the whole twin back, so they are ignored rather than refused.
  }
  return Status::Ok();
}

}  // namespace

void Twins::SetDesiredListener(DesiredListener listener) {
  std::lock_guard lock(listener_mu_);
  listener_ = std::move(listener);
}

Result<Twins::Identity> Twins::Lookup(const TwinId& id) {
  COFFRE_ASSIGN_OR_RETURN(DeviceIdentity device, registry_.Get(id.device_id));
  if (!id.module_id) return IdentityOf(device, nullptr);
  COFFRE_ASSIGN_OR_RETURN(ModuleIdentity module, registry_.GetModule(id.device_id, *id.module_id));
  return IdentityOf(device, &module);
}

Status Twins::Exists(const TwinId& id) {
  COFFRE_RETURN_IF_ERROR(registry_.Get(id.device_id).status());
  if (!id.module_id) return Status::Ok();
  return registry_.GetModule(id.device_id, *id.module_id).status();
}

Result<std::string> Twins::EnabledGeneration(const TwinId& id) {
  COFFRE_ASSIGN_OR_RETURN(DeviceIdentity device, registry_.Get(id.device_id));
  if (device.status != DeviceStatus::kEnabled) {
    return Unauthenticated("The device " + id.device_id + " is disabled.");
  }
  if (!id.module_id) return device.generation_id;
  COFFRE_ASSIGN_OR_RETURN(ModuleIdentity module, registry_.GetModule(id.device_id, *id.module_id));
  return module.generation_id;
}

Result<Twins::Identity> Twins::IdentityOf(const DeviceIdentity& device,
                                          const ModuleIdentity* module) {
  Identity out;
  json f = {{"deviceId", device.device_id},
            {"status", device.status == DeviceStatus::kEnabled ? "enabled" : "disabled"},
            {"statusUpdateTime", FormatIsoTime(device.status_updated_ms)},
            {"modelId", ""},
            {"capabilities", {{"iotEdge", false}}}};
  if (!device.status_reason.empty()) f["statusReason"] = device.status_reason;
  if (module == nullptr) {
    out.generation_id = device.generation_id;
    f["deviceEtag"] = device.etag;
    f["connectionState"] = device.connected ? "Connected" : "Disconnected";
    f["lastActivityTime"] = FormatIsoTime(device.last_activity_ms);
    size_t queued = 0;
    if (c2d_ != nullptr) {
      COFFRE_ASSIGN_OR_RETURN(queued, c2d_->Depth(device.device_id, device.generation_id));
    }
    f["cloudToDeviceMessageCount"] = queued;
    f["authenticationType"] = AuthTypeName(device.auth_type);
    f["x509Thumbprint"] = Thumbprints(device.primary_thumbprint, device.secondary_thumbprint);
  } else {
    out.generation_id = module->generation_id;
    f["moduleId"] = module->module_id;
    f["deviceEtag"] = module->etag;
    f["connectionState"] = module->connected ? "Connected" : "Disconnected";
    f["lastActivityTime"] = FormatIsoTime(module->last_activity_ms);
    f["cloudToDeviceMessageCount"] = 0;  // C2D messages go to devices, not modules
    f["authenticationType"] = AuthTypeName(module->auth_type);
    f["x509Thumbprint"] = Thumbprints(module->primary_thumbprint, module->secondary_thumbprint);
  }
  out.fields = std::move(f);
  return out;
}

json Twins::ServiceView(const Identity& identity, const TwinDocument& twin) const {
  json view = identity.fields;
  view["etag"] = twin.Etag();
  view["version"] = twin.version();
  view["tags"] = twin.tags();
  view["properties"] = {{"desired", twin.PropertiesView(TwinSection::kDesired)},
                        {"reported", twin.PropertiesView(TwinSection::kReported)}};
  return view;
}

Result<json> Twins::Get(const TwinId& id) {
  COFFRE_ASSIGN_OR_RETURN(Identity identity, Lookup(id));
  COFFRE_ASSIGN_OR_RETURN(TwinDocument twin, store_.Get(id, identity.generation_id));
  return ServiceView(identity, twin);
}

Result<json> Twins::View(const DeviceIdentity& device, const ModuleIdentity* module) {
  COFFRE_ASSIGN_OR_RETURN(Identity identity, IdentityOf(device, module));
  TwinId id{device.device_id, module ? std::optional<std::string>(module->module_id) : std::nullopt};
  COFFRE_ASSIGN_OR_RETURN(TwinDocument twin, store_.Get(id, identity.generation_id));
  return ServiceView(identity, twin);
}

Result<json> Twins::Write(const TwinId& id, const json& body, const std::string& if_match,
                          bool replace) {
  json tags, desired;
  bool has_desired = false;
  COFFRE_RETURN_IF_ERROR(ReadBody(body, tags, desired, has_desired));
  COFFRE_ASSIGN_OR_RETURN(Identity identity, Lookup(id));
  Clock::WallTime now = clock_.Now();
  COFFRE_ASSIGN_OR_RETURN(
      TwinDocument twin, store_.Update(id, identity.generation_id, if_match, [&](TwinDocument& t) {
        if (replace) return t.Replace(tags, desired, now);
        COFFRE_RETURN_IF_ERROR(t.PatchTags(tags));
        if (!has_desired) return Status::Ok();
        return t.PatchProperties(TwinSection::kDesired, desired, now);
      }));
  if (has_desired || replace) {
    DesiredListener listener;
    {
      std::lock_guard lock(listener_mu_);
      listener = listener_;
    }
    int64_t version = twin.SectionVersion(TwinSection::kDesired);
    // A replace tells the device the whole new desired document.
    json told = replace ? twin.DeviceView()["desired"] : desired;
    told.erase("$version");
    if (listener) listener(id, told, version);
  }
  return ServiceView(identity, twin);
}

Result<json> Twins::Patch(const TwinId& id, const json& body, const std::string& if_match) {
  return Write(id, body, if_match, /*replace=*/false);
}

Result<json> Twins::Replace(const TwinId& id, const json& body, const std::string& if_match) {
  return Write(id, body, if_match, /*replace=*/true);
}

Result<json> Twins::DeviceGet(const TwinId& id) {
  COFFRE_ASSIGN_OR_RETURN(std::string generation_id, EnabledGeneration(id));
  COFFRE_ASSIGN_OR_RETURN(TwinDocument twin, store_.Get(id, generation_id));
  return twin.DeviceView();
}

Result<int64_t> Twins::Report(const TwinId& id, const json& patch) {
  COFFRE_ASSIGN_OR_RETURN(std::string generation_id, EnabledGeneration(id));
  Clock::WallTime now = clock_.Now();
  COFFRE_ASSIGN_OR_RETURN(
      TwinDocument twin, store_.Update(id, generation_id, "", [&](TwinDocument& t) {
        return t.PatchProperties(TwinSection::kReported, patch, now);
      }));
  return twin.SectionVersion(TwinSection::kReported);
}

}  // namespace coffre::hub
