#include "hub/twin_document.h"

#include <chrono>
#include <string_view>

#include "common/bytes.h"
#include "common/encoding.h"
#include "common/time_format.h"

namespace coffre::hub {

using nlohmann::json;

namespace {

constexpr std::string_view kLastUpdated = "$lastUpdated";
constexpr std::string_view kLastUpdatedVersion = "$lastUpdatedVersion";

std::string IsoTime(Clock::WallTime t) { return FormatIsoTime(ToMillis(t)); }

// Azure's key rule: any UTF-8 but control characters (C0, DEL, C1), '.', '$' and space.
Status CheckKey(std::string_view key, const std::string& path, const TwinLimits& limits) {
  if (key.empty()) return InvalidArgument("Property names cannot be empty (under '" + path + "').");
  if (key.size() > limits.max_key_bytes) {
    return InvalidArgument("Property name under '" + path + "' is longer than " +
                           std::to_string(limits.max_key_bytes) + " bytes.");
  }
  for (size_t i = 0; i < key.size(); ++i) {
    auto c = static_cast<unsigned char>(key[i]);
    bool c1 = c == 0xC2 && i + 1 < key.size() && static_cast<unsigned char>(key[i + 1]) >= 0x80 &&
              static_cast<unsigned char>(key[i + 1]) <= 0x9F;
    if (c < 0x20 || c == 0x7F || c1 || c == '.' || c == '$' || c == ' ') {
      return InvalidArgument("Property name '" + std::string(key.substr(0, 64)) + "' under '" +
                             path + "' contains '.', '$', a space or a control character.");
    }
  }
  return Status::Ok();
}

// Checks a patch value: keys, depth, string lengths; null only where it deletes a key.
Status CheckValue(const json& v, int depth, const std::string& path, bool null_deletes,
                  const TwinLimits& limits) {
  switch (v.type()) {
    case json::value_t::object: {
      if (depth > limits.max_depth) {
        return InvalidArgument("'" + path + "' nests objects deeper than " +
                               std::to_string(limits.max_depth) + " levels.");
      }
      for (const auto& [key, child] : v.items()) {
        COFFRE_RETURN_IF_ERROR(CheckKey(key, path, limits));
        COFFRE_RETURN_IF_ERROR(
            CheckValue(child, depth + 1, path + "." + key, null_deletes, limits));
      }
      return Status::Ok();
    }
    case json::value_t::array:
      for (const auto& child : v) {
        if (child.is_null()) return InvalidArgument("'" + path + "' holds null in an array.");
        COFFRE_RETURN_IF_ERROR(CheckValue(child, depth + 1, path + "[]", false, limits));
      }
      return Status::Ok();
    case json::value_t::string:
      if (v.get_ref<const std::string&>().size() > limits.max_string_bytes) {
        return InvalidArgument("'" + path + "' is a string longer than " +
                               std::to_string(limits.max_string_bytes) + " bytes.");
      }
      return Status::Ok();
    case json::value_t::null:
      if (!null_deletes) return InvalidArgument("'" + path + "' is null.");
      return Status::Ok();
    case json::value_t::discarded:
    case json::value_t::binary:
      return InvalidArgument("'" + path + "' is not a JSON value.");
    default:  // numbers and booleans
      return Status::Ok();
  }
}

Status CheckPatch(const json& patch, const std::string& section, const TwinLimits& limits) {
  if (!patch.is_object()) return InvalidArgument("The " + section + " patch must be a JSON object.");
  return CheckValue(patch, 1, section, true, limits);
}

// Azure's size measure of a value: key bytes plus strings by bytes, numbers 8, booleans 4.
size_t SizeOf(const json& v) {
  switch (v.type()) {
    case json::value_t::object: {
      size_t n = 0;
      for (const auto& [key, child] : v.items()) n += key.size() + SizeOf(child);
      return n;
    }
    case json::value_t::array: {
      size_t n = 0;
      for (const auto& child : v) n += SizeOf(child);
      return n;
    }
    case json::value_t::string: return v.get_ref<const std::string&>().size();
    case json::value_t::boolean: return 4;
    case json::value_t::null: return 0;
    default: return 8;
  }
}

Status CheckSize(const json& values, size_t limit, const std::string& section) {
  size_t size = SizeOf(values);
  if (size <= limit) return Status::Ok();
  return InvalidArgument("The " + section + " would be " + std::to_string(size) +
                         " bytes, over the limit of " + std::to_string(limit) + ".");
}

// A value taken from a patch into the document: RFC 7396 drops nulls inside new objects.
json WithoutNulls(const json& v) {
  if (!v.is_object()) return v;
  json out = json::object();
  for (const auto& [key, child] : v.items()) {
    if (!child.is_null()) out[key] = WithoutNulls(child);
  }
  return out;
}

void Stamp(json& meta, const json& stamp) {
  for (const auto& [key, value] : stamp.items()) meta[key] = value;
}

// $metadata for a value just written: the stamp at every object level.
json MetadataFor(const json& value, const json& stamp) {
  json meta = stamp;
  if (value.is_object()) {
    for (const auto& [key, child] : value.items()) meta[key] = MetadataFor(child, stamp);
  }
  return meta;
}

// RFC 7396 merge of `patch` into `target`, keeping `meta` in step.
void Merge(json& target, json& meta, const json& patch, const json& stamp) {
  for (const auto& [key, value] : patch.items()) {
    if (value.is_null()) {
      target.erase(key);
      meta.erase(key);
    } else if (value.is_object() && target.contains(key) && target[key].is_object()) {
      json& child_meta = meta[key];
      if (!child_meta.is_object()) child_meta = json::object();
      Merge(target[key], child_meta, value, stamp);
    } else {
      target[key] = WithoutNulls(value);
      meta[key] = MetadataFor(target[key], stamp);
    }
  }
  Stamp(meta, stamp);
}

// Tags have no metadata in Azure's view; merged the same way.
void MergeTags(json& target, const json& patch) {
  for (const auto& [key, value] : patch.items()) {
    if (value.is_null()) {
      target.erase(key);
    } else if (value.is_object() && target.contains(key) && target[key].is_object()) {
      MergeTags(target[key], value);
    } else {
      target[key] = WithoutNulls(value);
    }
  }
}

const char* SectionName(TwinSection s) {
  return s == TwinSection::kDesired ? "properties.desired" : "properties.reported";
}

}  // namespace

TwinDocument::TwinDocument(Clock::WallTime created) {
  desired_.metadata = {{kLastUpdated, IsoTime(created)}, {kLastUpdatedVersion, 1}};
  reported_.metadata = {{kLastUpdated, IsoTime(created)}};
}

Status TwinDocument::PatchTags(const json& patch, const TwinLimits& limits) {
  COFFRE_RETURN_IF_ERROR(CheckPatch(patch, "tags", limits));
  json next = tags_;
  MergeTags(next, patch);
  COFFRE_RETURN_IF_ERROR(CheckSize(next, limits.tags_bytes, "tags"));
  tags_ = std::move(next);
  ++version_;
  return Status::Ok();
}

Status TwinDocument::PatchProperties(TwinSection section, const json& patch, Clock::WallTime now,
                                     const TwinLimits& limits) {
  COFFRE_RETURN_IF_ERROR(CheckPatch(patch, SectionName(section), limits));
  Properties next = Of(section);
  ++next.version;
  json stamp = {{kLastUpdated, IsoTime(now)}};
  if (section == TwinSection::kDesired) stamp[kLastUpdatedVersion] = next.version;
  Merge(next.values, next.metadata, patch, stamp);
  COFFRE_RETURN_IF_ERROR(CheckSize(next.values, limits.properties_bytes, SectionName(section)));
  Of(section) = std::move(next);
  ++version_;
  return Status::Ok();
}

Status TwinDocument::Replace(const json& tags, const json& desired, Clock::WallTime now,
                             const TwinLimits& limits) {
  COFFRE_RETURN_IF_ERROR(CheckPatch(tags, "tags", limits));
  COFFRE_RETURN_IF_ERROR(CheckPatch(desired, SectionName(TwinSection::kDesired), limits));
  json next_tags = WithoutNulls(tags);
  COFFRE_RETURN_IF_ERROR(CheckSize(next_tags, limits.tags_bytes, "tags"));
  Properties next;
  next.version = desired_.version + 1;
  json stamp = {{kLastUpdated, IsoTime(now)}, {kLastUpdatedVersion, next.version}};
  next.values = WithoutNulls(desired);
  next.metadata = MetadataFor(next.values, stamp);
  COFFRE_RETURN_IF_ERROR(
      CheckSize(next.values, limits.properties_bytes, SectionName(TwinSection::kDesired)));
  tags_ = std::move(next_tags);
  desired_ = std::move(next);
  ++version_;
  return Status::Ok();
}

json TwinDocument::DeviceView() const {
  json desired = desired_.values;
  desired["$version"] = desired_.version;
  json reported = reported_.values;
  reported["$version"] = reported_.version;
  return {{"desired", std::move(desired)}, {"reported", std::move(reported)}};
}

json TwinDocument::PropertiesView(TwinSection section) const {
  const Properties& p = Of(section);
  json view = p.values;
  view["$metadata"] = p.metadata;
  view["$version"] = p.version;
  return view;
}

std::string TwinDocument::Etag() const {
  Bytes be(8);
  auto v = static_cast<uint64_t>(version_);
  for (int i = 7; i >= 0; --i, v >>= 8) be[i] = static_cast<std::byte>(v & 0xFF);
  return Base64Encode(be);
}

json TwinDocument::ToStored() const {
  auto section = [](const Properties& p) {
    return json{{"values", p.values}, {"metadata", p.metadata}, {"version", p.version}};
  };
  return {{"format", 1},
          {"version", version_},
          {"tags", tags_},
          {"desired", section(desired_)},
          {"reported", section(reported_)}};
}

Result<TwinDocument> TwinDocument::FromStored(const json& stored) {
  auto bad = [] { return DataLoss("stored twin record is not in the expected format"); };
  auto read_version = [](const json& o, int64_t& out) {
    auto it = o.find("version");
    if (it == o.end() || !it->is_number_integer() || it->get<int64_t>() < 1) return false;
    out = it->get<int64_t>();
    return true;
  };
  auto read_section = [&](const char* name, Properties& p) {
    auto it = stored.find(name);
    if (it == stored.end() || !it->is_object()) return false;
    auto values = it->find("values");
    auto metadata = it->find("metadata");
    if (values == it->end() || !values->is_object() || metadata == it->end() ||
        !metadata->is_object()) {
      return false;
    }
    p.values = *values;
    p.metadata = *metadata;
    return read_version(*it, p.version);
  };
  if (!stored.is_object()) return bad();
  auto format = stored.find("format");
  if (format == stored.end() || *format != 1) return bad();
  TwinDocument twin;
  auto tags = stored.find("tags");
  if (tags == stored.end() || !tags->is_object()) return bad();
  twin.tags_ = *tags;
  if (!read_version(stored, twin.version_) || !read_section("desired", twin.desired_) ||
      !read_section("reported", twin.reported_)) {
    return bad();
  }
  return twin;
}

}  // namespace coffre::hub
