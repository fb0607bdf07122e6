#pragma once
// Reading the fields of a reply for display, without throwing on a reply of another shape.
// Stateless, thread-safe.

#include <nlohmann/json.hpp>

namespace coffre::cli {

// A member of an object; null if it is absent or `j` is not an object.
const nlohmann::json& Member(const nlohmann::json& j, const char* name);

}  // namespace coffre::cli
