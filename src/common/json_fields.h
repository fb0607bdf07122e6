#pragma once
// JsonFields: typed reads of a JSON object's fields from untrusted text (request bodies, vault
// replies, stored records) that never throw. Each read checks the type before converting; a
// wrong type, a null where a value is needed, or an integer outside the asked type's range is
// INVALID_ARGUMENT naming the field: "field 'authentication.type' must be a string". Borrows
// the object (it must outlive the view); value type, thread-compatible.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace coffre {

// `text` parsed without exceptions; INVALID_ARGUMENT unless it is one JSON object.
// `what` names the text in the error ("The body").
Result<nlohmann::json> ParseJsonObject(std::string_view text, std::string_view what = "The body");

class JsonFields {
 public:
  // INVALID_ARGUMENT unless `value` is an object. `path` prefixes field names in errors
  // ("authentication" gives "authentication.type"); empty at the top level.
  static Result<JsonFields> Of(const nlohmann::json& value, std::string path = "");

  // T is one of std::string, bool, int, int64_t, uint16_t, uint32_t, uint64_t, double,
  // std::vector<std::string>, nlohmann::json (any value) or JsonFields (a nested object).

  // Absent: nullopt. Present with any other type, null included: INVALID_ARGUMENT.
  template <typename T>
  Result<std::optional<T>> Optional(std::string_view name) const;
  // Like Optional, but null also means "not given" (Azure's nullable fields).
  template <typename T>
  Result<std::optional<T>> Nullable(std::string_view name) const;
  // Absent: `fallback`; null or another type: INVALID_ARGUMENT.
  template <typename T>
  Result<T> Or(std::string_view name, T fallback) const {
    COFFRE_ASSIGN_OR_RETURN(std::optional<T> v, Optional<T>(name));
    return v ? std::move(*v) : std::move(fallback);
  }
  // Absent, null or another type: INVALID_ARGUMENT.
  template <typename T>
  Result<T> Required(std::string_view name) const;

  bool Has(std::string_view name) const { return object_->contains(name); }
  const nlohmann::json& object() const { return *object_; }
  // "authentication.type" for name "type" under path "authentication".
  std::string PathOf(std::string_view name) const;

 private:
  JsonFields(const nlohmann::json& object, std::string path)
      : object_(&object), path_(std::move(path)) {}

  template <typename T>
  Result<T> Convert(const nlohmann::json& value, std::string_view name) const;

  const nlohmann::json* object_;
  std::string path_;
};

// The specializations (json_fields.cc) exist for the types listed above only.
#define COFFRE_JSON_FIELD_TYPE(T)                                                              \
  template <>                                                                                \
  Result<T> JsonFields::Convert<T>(const nlohmann::json& value, std::string_view name) const;
COFFRE_JSON_FIELD_TYPE(std::string)
COFFRE_JSON_FIELD_TYPE(bool)
COFFRE_JSON_FIELD_TYPE(int)
COFFRE_JSON_FIELD_TYPE(int64_t)
COFFRE_JSON_FIELD_TYPE(uint16_t)
COFFRE_JSON_FIELD_TYPE(uint32_t)
COFFRE_JSON_FIELD_TYPE(uint64_t)
COFFRE_JSON_FIELD_TYPE(double)
COFFRE_JSON_FIELD_TYPE(std::vector<std::string>)
COFFRE_JSON_FIELD_TYPE(nlohmann::json)
COFFRE_JSON_FIELD_TYPE(JsonFields)
#undef COFFRE_JSON_FIELD_TYPE

template <typename T>
Result<std::optional<T>> JsonFields::Optional(std::string_view name) const {
  auto it = object_->find(name);
  if (it == object_->end()) return std::optional<T>();
  COFFRE_ASSIGN_OR_RETURN(T v, Convert<T>(*it, name));
  return std::optional<T>(std::move(v));
}

template <typename T>
Result<std::optional<T>> JsonFields::Nullable(std::string_view name) const {
  auto it = object_->find(name);
  if (it == object_->end() || it->is_null()) return std::optional<T>();
  COFFRE_ASSIGN_OR_RETURN(T v, Convert<T>(*it, name));
  return std::optional<T>(std::move(v));
}

template <typename T>
Result<T> JsonFields::Required(std::string_view name) const {
  auto it = object_->find(name);
  if (it == object_->end()) return InvalidArgument("field '" + PathOf(name) + "' is missing");
  return Convert<T>(*it, name);
}

}  // namespace coffre
