#pragma once
// The numbers that end C2D row names ("c2d/<h(device)>/<seq>", "c2dfeedback/<seq>"): 16 lower-
// case hex digits, so that the store's key order is the numbers' order. Stateless.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace coffre::hub {

std::string C2dRowNumber(uint64_t n);
// The number at the end of a row name; nullopt if it does not end in one.
std::optional<uint64_t> C2dRowNumberOf(std::string_view row);

}  // namespace coffre::hub
