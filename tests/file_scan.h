#pragma once
// Searches every file under a directory for secret bytes in the forms they could leak in:
// raw, base64, base64url (unpadded) and hex in either case.

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <string>
#include <vector>

#include "common/encoding.h"
#include "common/files.h"

namespace coffre::testing {

inline std::vector<Bytes> LeakForms(ByteSpan secret) {
  std::string hex = HexEncode(secret);
  std::string upper = hex;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string b64 = Base64Encode(secret);
  while (!b64.empty() && b64.back() == '=') b64.pop_back();
  return {Bytes(secret.begin(), secret.end()), ToBytes(b64), ToBytes(Base64UrlEncode(secret)),
          ToBytes(hex), ToBytes(upper)};
}

// The files under `dir` holding `secret` in any LeakForms form.
inline std::vector<std::string> FilesContaining(const std::filesystem::path& dir, ByteSpan secret) {
  std::vector<std::string> hits;
  auto forms = LeakForms(secret);
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    Result<Bytes> content = ReadFile(entry.path());
    if (!content.has_value()) continue;
    for (const Bytes& form : forms) {
      if (std::search(content->begin(), content->end(), form.begin(), form.end()) !=
          content->end()) {
        hits.push_back(entry.path().filename().string());
        break;
      }
    }
  }
  return hits;
}

}  // namespace coffre::testing
