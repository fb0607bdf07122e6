#pragma once
// The one mapping from a Status to an HTTP error. Each API states its mapping as data (an
// HttpErrorTable: which HTTP status and error code each StatusCode becomes); HttpErrorFor applies
// it. The body's shape stays with the API (Key Vault's {"error":...}, IoT Hub's {"Message":...}).
// Stateless, thread-safe.

#include <initializer_list>
#include <string_view>
#include <utility>

#include "common/status.h"

namespace coffre::net {

struct HttpError {
  unsigned status = 500;
  std::string_view code;    // the API's error code for this StatusCode ("KeyNotFound")
  std::string_view detail;  // the Status's finer code, "" if it has none ("KeyDisabled")
};

class HttpErrorTable {
 public:
  using Entry = std::pair<StatusCode, std::pair<unsigned, std::string_view>>;
  // `fallback` is used for a StatusCode the table does not list (typically 500).
  HttpErrorTable(std::initializer_list<Entry> entries, std::pair<unsigned, std::string_view> fallback);

  std::pair<unsigned, std::string_view> Lookup(StatusCode code) const;

 private:
  static constexpr int kCodes = static_cast<int>(StatusCode::kUnimplemented) + 1;
  std::pair<unsigned, std::string_view> by_code_[kCodes];
};

// `s` must not be OK. The returned views point into `table` and `s`: use them before either dies.
HttpError HttpErrorFor(const Status& s, const HttpErrorTable& table);

}  // namespace coffre::net
