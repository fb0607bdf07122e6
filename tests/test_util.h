#pragma once
// Helpers for tests: status matchers, a temporary directory, hex literals.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/bytes.h"
#include "common/encoding.h"
#include "common/result.h"

namespace coffre::testing {

#define COFFRE_ASSERT_OK(expr)                      \
  do {                                              \
    ::coffre::Status coffre_s_ = (expr);            \
    ASSERT_TRUE(coffre_s_.ok()) << coffre_s_;       \
  } while (false)

#define COFFRE_EXPECT_OK(expr)                      \
  do {                                              \
    ::coffre::Status coffre_s_ = (expr);            \
    EXPECT_TRUE(coffre_s_.ok()) << coffre_s_;       \
  } while (false)

// ASSERT_OK_AND_ASSIGN(auto v, Compute());
#define COFFRE_ASSERT_OK_AND_ASSIGN(lhs, expr) \
  COFFRE_ASSERT_OK_AND_ASSIGN_IMPL_(COFFRE_CONCAT_(coffre_r_, __LINE__), lhs, expr)
#define COFFRE_ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, expr)           \
  auto tmp = (expr);                                                \
  ASSERT_TRUE(tmp.has_value()) << tmp.status();                     \
  lhs = std::move(tmp).value()

MATCHER_P(StatusIs, code, "") {
  ::coffre::Status s = arg;
  if (s.code() == code) return true;
  *result_listener << "status is " << s;
  return false;
}

MATCHER_P2(StatusIs, code, message_matcher, "") {
  ::coffre::Status s = arg;
  if (s.code() != code) {
    *result_listener << "status is " << s;
    return false;
  }
  return ::testing::ExplainMatchResult(message_matcher, s.message(), result_listener);
}

// A Status with this code and this finer code (Status::detail), e.g. Key Vault's "KeyDisabled".
MATCHER_P2(StatusWithDetail, code, detail, "") {
  ::coffre::Status s = arg;
  if (s.code() == code && s.detail() == detail) return true;
  *result_listener << "status is " << s << " with detail '" << s.detail() << "'";
  return false;
}

inline Bytes Hex(std::string_view text) {
  Result<Bytes> b = HexDecode(text);
  EXPECT_TRUE(b.has_value()) << "bad hex in test: " << text;
  return b.has_value() ? *b : Bytes{};
}

// A fresh directory under TMPDIR, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "coffre-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace coffre::testing
