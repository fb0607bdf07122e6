#include "vault/keys/key_snapshot.h"

#include <algorithm>
#include <set>

#include "vault/keys/key_vault.h"

namespace coffre::vault {
namespace {

using nlohmann::json;

bool ValidVersionId(const json& id) {
  if (!id.is_string()) return false;
  const std::string& s = id.get_ref<const std::string&>();
  return s.size() == 32 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

Status Malformed(std::string_view what) {
  return InvalidArgument("The backup blob's content is malformed: " + std::string(what) + ".");
}

}  // namespace

std::string EncodeKeySnapshotMeta(const KeySnapshot& snapshot) {
  json versions = json::array();
  for (const auto& v : snapshot.versions) {
    versions.push_back({{"id", v.id}, {"record", v.record}, {"material_size", v.material_size}});
  }
  json meta = {{"name", snapshot.name}, {"record", snapshot.record}, {"versions", versions}};
  return meta.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<KeySnapshot> DecodeKeySnapshot(std::string_view meta, crypto::SecretBytes material) {
  json j = json::parse(meta, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Malformed("not a JSON object");
  auto name = j.find("name");
  auto record = j.find("record");
  auto versions = j.find("versions");
  if (name == j.end() || !name->is_string() ||
      !KeyVault::ValidName(name->get_ref<const std::string&>())) {
    return Malformed("no valid key name");
  }
  if (record == j.end() || !record->is_object()) return Malformed("no key record");
  if (versions == j.end() || !versions->is_array() || versions->empty()) {
    return Malformed("no versions");
  }
  KeySnapshot out;
  out.name = name->get<std::string>();
  out.record = std::move(*record);
  std::set<std::string> seen;
  size_t offset = 0;
  for (const json& v : *versions) {
    if (!v.is_object()) return Malformed("a version is not an object");
    auto id = v.find("id");
    auto version_record = v.find("record");
    auto size = v.find("material_size");
    if (id == v.end() || !ValidVersionId(*id)) return Malformed("a version id is invalid");
    if (!seen.insert(id->get<std::string>()).second) return Malformed("a version is repeated");
    if (version_record == v.end() || !version_record->is_object()) {
      return Malformed("a version has no record");
    }
    if (size == v.end() || !size->is_number_unsigned() || size->get<uint64_t>() == 0 ||
        size->get<uint64_t>() > material.size() - offset) {
      return Malformed("a version's material size is invalid");
    }
    size_t n = size->get<size_t>();
    out.versions.push_back({id->get<std::string>(), *version_record, offset, n});
    offset += n;
  }
  if (offset != material.size()) return Malformed("the material sizes do not add up");
  out.material = std::move(material);
  return out;
}

}  // namespace coffre::vault
