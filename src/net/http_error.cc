#include "net/http_error.h"

namespace coffre::net {

HttpErrorTable::HttpErrorTable(std::initializer_list<Entry> entries,
                               std::pair<unsigned, std::string_view> fallback) {
  for (auto& slot : by_code_) slot = fallback;
  for (const auto& [code, mapped] : entries) by_code_[static_cast<int>(code)] = mapped;
}

std::pair<unsigned, std::string_view> HttpErrorTable::Lookup(StatusCode code) const {
  int i = static_cast<int>(code);
  return (i >= 0 && i < kCodes) ? by_code_[i] : by_code_[static_cast<int>(StatusCode::kInternal)];
}

HttpError HttpErrorFor(const Status& s, const HttpErrorTable& table) {
  auto [status, code] = table.Lookup(s.code());
  return HttpError{status, code, s.detail()};
}

}  // namespace coffre::net
