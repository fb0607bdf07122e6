#pragma once
// Small string helpers shared by the parsers. Stateless.

#include <string>
#include <string_view>
#include <vector>

namespace coffre {

// "a/b//c" -> {"a", "b", "", "c"}; "" -> {""}. The views point into `text`.
inline std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t at = text.find(separator, start);
    out.push_back(text.substr(start, at == std::string_view::npos ? at : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

// `s` without any of `chars` at its end: a token or connection string read from a file.
inline std::string TrimEnd(std::string s, std::string_view chars = "\r\n") {
  while (!s.empty() && chars.find(s.back()) != std::string_view::npos) s.pop_back();
  return s;
}

}  // namespace coffre
