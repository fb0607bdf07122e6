#include "hub/twin_store.h"

#include "hub/identity_checks.h"

namespace coffre::hub {

using nlohmann::json;

namespace {

constexpr std::string_view kTwinPrefix = "twin/";

}  // namespace

Result<std::string> TwinStore::DevicePrefix(const std::string& device_id) {
  return rows_.HashedRow(kTwinPrefix, "twin-row-names", device_id);
}

// "twin/<hmac(device)>" for a device; "twin/<hmac(device)>/<hmac(device/module)>" for a module.
Result<std::string> TwinStore::Row(const TwinId& id) {
  COFFRE_ASSIGN_OR_RETURN(std::string device, DevicePrefix(id.device_id));
  if (!id.module_id) return device;
  return rows_.HashedRow(device + "/", "twin-row-names", id.device_id + "/" + *id.module_id);
}

std::mutex& TwinStore::Stripe(const TwinId& id) {
  size_t h = std::hash<std::string>{}(id.device_id);
  return stripes_[h % stripes_.size()];
}

Result<TwinDocument> TwinStore::Load(const std::string& row, const std::string& generation_id) {
  return FromRecord(rows_.Load(row), generation_id);
}

Result<TwinDocument> TwinStore::FromRecord(Result<json> record, const std::string& generation_id) {
  if (!record.has_value()) {
    if (record.error().code() == StatusCode::kNotFound) return TwinDocument(clock_.Now());
    return record.error();
  }
  auto generation = record->find("generation");
  auto twin = record->find("twin");
  if (generation == record->end() || !generation->is_string() || twin == record->end()) {
    return DataLoss("stored twin record is not in the expected format");
  }
  // A row left by an earlier device of the same id is not this device's twin.
  if (generation->get<std::string>() != generation_id) return TwinDocument(clock_.Now());
  return TwinDocument::FromStored(*twin);
}

Result<TwinDocument> TwinStore::Get(const TwinId& id, const std::string& generation_id) {
  COFFRE_ASSIGN_OR_RETURN(std::string row, Row(id));
  std::lock_guard lock(Stripe(id));
  return Load(row, generation_id);
}

Result<TwinDocument> TwinStore::Update(const TwinId& id, const std::string& generation_id,
                                       const std::string& if_match, const Change& change) {
  COFFRE_ASSIGN_OR_RETURN(std::string row, Row(id));
  std::lock_guard lock(Stripe(id));
  std::optional<TwinDocument> updated;
  // Read, checked, changed and written in one transaction: a desired patch on one hub node and
  // a reported one on another both land, with versions that never repeat.
  Status done = rows_.Update(row, [&](Result<json> stored) -> Result<std::optional<json>> {
    COFFRE_ASSIGN_OR_RETURN(TwinDocument twin, FromRecord(std::move(stored), generation_id));
    if (!if_match.empty()) {
      COFFRE_RETURN_IF_ERROR(identity::CheckEtag(if_match, twin.Etag(), true, "twin"));
    }
    COFFRE_RETURN_IF_ERROR(change(twin));
    json record{{"generation", generation_id}, {"twin", twin.ToStored()}};
    updated = std::move(twin);
    return std::optional<json>(std::move(record));
  });
  COFFRE_RETURN_IF_ERROR(done);
  return std::move(*updated);
}

Status TwinStore::Erase(const TwinId& id) {
  COFFRE_ASSIGN_OR_RETURN(std::string row, Row(id));
  std::lock_guard lock(Stripe(id));
  std::vector<std::string> rows{row};
  if (!id.module_id) {
    COFFRE_ASSIGN_OR_RETURN(std::vector<std::string> modules, rows_.Rows(row + "/"));
    rows.insert(rows.end(), modules.begin(), modules.end());
  }
  return rows_.EraseAll(rows);
}

}  // namespace coffre::hub
