#include "common/json_fields.h"

#include <algorithm>
#include <limits>

namespace coffre {
namespace {

using nlohmann::json;

// An integer field as T, or nullopt if it is not an integer in T's range. Floats (1.5, 1e30,
// and integers beyond 64 bits, which the parser keeps as doubles) are not integers.
template <typename T>
std::optional<T> Integer(const json& v) {
  constexpr auto kMax = static_cast<uint64_t>(std::numeric_limits<T>::max());
  constexpr auto kMin = static_cast<int64_t>(std::numeric_limits<T>::min());
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > kMax) return std::nullopt;
    return static_cast<T>(u);
  }
  if (v.is_number_integer()) {  // signed storage: parsed negatives, or built in code
    int64_t i = v.get<int64_t>();
    if (i < kMin || (i > 0 && static_cast<uint64_t>(i) > kMax)) return std::nullopt;
    return static_cast<T>(i);
  }
  return std::nullopt;
}

template <typename T>
std::string IntegerRange() {
  return "an integer from " + std::to_string(std::numeric_limits<T>::min()) + " to " +
         std::to_string(std::numeric_limits<T>::max());
}

}  // namespace

Result<json> ParseJsonObject(std::string_view text, std::string_view what) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return InvalidArgument(std::string(what) + " is not a JSON object.");
  }
  return j;
}

Result<JsonFields> JsonFields::Of(const json& value, std::string path) {
  if (!value.is_object()) {
    return InvalidArgument(path.empty() ? std::string("the value must be an object")
                                        : "field '" + path + "' must be an object");
  }
  return JsonFields(value, std::move(path));
}

std::string JsonFields::PathOf(std::string_view name) const {
  return path_.empty() ? std::string(name) : path_ + "." + std::string(name);
}

#define COFFRE_WRONG_TYPE(what) InvalidArgument("field '" + PathOf(name) + "' must be " + (what))

template <>
Result<std::string> JsonFields::Convert<std::string>(const json& v, std::string_view name) const {
  if (!v.is_string()) return COFFRE_WRONG_TYPE("a string");
  return v.get_ref<const std::string&>();
}

template <>
Result<bool> JsonFields::Convert<bool>(const json& v, std::string_view name) const {
  if (!v.is_boolean()) return COFFRE_WRONG_TYPE("a boolean");
  return v.get<bool>();
}

#define COFFRE_INTEGER_FIELD(T)                                                            \
  template <>                                                                              \
  Result<T> JsonFields::Convert<T>(const json& v, std::string_view name) const {           \
    std::optional<T> i = Integer<T>(v);                                                    \
    if (!i) return COFFRE_WRONG_TYPE(IntegerRange<T>());                                   \
    return *i;                                                                             \
  }
COFFRE_INTEGER_FIELD(int)
COFFRE_INTEGER_FIELD(int64_t)
COFFRE_INTEGER_FIELD(uint16_t)
COFFRE_INTEGER_FIELD(uint32_t)
COFFRE_INTEGER_FIELD(uint64_t)
#undef COFFRE_INTEGER_FIELD

template <>
Result<double> JsonFields::Convert<double>(const json& v, std::string_view name) const {
  if (!v.is_number()) return COFFRE_WRONG_TYPE("a number");
  return v.get<double>();
}

template <>
Result<std::vector<std::string>> JsonFields::Convert<std::vector<std::string>>(
    const json& v, std::string_view name) const {
  if (!v.is_array() || !std::all_of(v.begin(), v.end(), [](const json& e) { return e.is_string(); })) {
    return COFFRE_WRONG_TYPE("an array of strings");
  }
  std::vector<std::string> out;
  out.reserve(v.size());
  for (const json& e : v) out.push_back(e.get_ref<const std::string&>());
  return out;
}

template <>
Result<json> JsonFields::Convert<json>(const json& v, std::string_view) const {
  return v;
}

template <>
Result<JsonFields> JsonFields::Convert<JsonFields>(const json& v, std::string_view name) const {
  if (!v.is_object()) return COFFRE_WRONG_TYPE("an object");
  return JsonFields(v, PathOf(name));
}

#undef COFFRE_WRONG_TYPE

}  // namespace coffre
