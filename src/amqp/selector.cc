#include "amqp/selector.h"

#include <charconv>
#include <regex>
#include <string>

namespace coffre::amqp {

std::optional<StartPosition> ParseSelector(std::string_view expression) {
  if (expression.size() > 512) return std::nullopt;
  static const std::regex kForm(
      R"(^\s*amqp\.annotation\.(x-opt-offset|x-opt-sequence-number|x-opt-enqueued-time)\s*(>=|>|=)\s*'([^']*)'\s*$)",
      std::regex::icase | std::regex::ECMAScript);
  std::string text(expression);
  std::smatch m;
  if (!std::regex_match(text, m, kForm)) return std::nullopt;
  std::string key = m[1].str();
  for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string op = m[2].str();
  std::string value = m[3].str();
  StartPosition out;
  out.inclusive = op != ">";
  if (key == "x-opt-offset" && value == "@latest") {
    out.kind = StartPosition::Kind::kLatest;
    return out;
  }
  int64_t number = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
  if (ec != std::errc() || end != value.data() + value.size()) return std::nullopt;
  if (key == "x-opt-offset") {
    if (number == -1) {
      out.kind = StartPosition::Kind::kStart;
      return out;
    }
    if (number < 0) return std::nullopt;
    out.kind = StartPosition::Kind::kOffset;
  } else if (key == "x-opt-sequence-number") {
    if (number < -1) return std::nullopt;
    out.kind = StartPosition::Kind::kSequence;
  } else {
    out.kind = StartPosition::Kind::kEnqueuedTime;
  }
  out.value = number;
  return out;
}

}  // namespace coffre::amqp
