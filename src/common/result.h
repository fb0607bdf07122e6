#pragma once
// Result<T>: a T or an error Status. Its API is a subset of std::expected<T, Status>
// (has_value, value, error, operator*, operator->), so C++23 only changes an alias.
// Value type, thread-compatible.

#include <cstdlib>
#include <type_traits>
#include <utility>
#include <variant>

#include "common/check.h"
#include "common/status.h"

namespace coffre {

template <typename T>
class [[nodiscard]] Result {
 public:
  static_assert(!std::is_same_v<T, Status>, "use Status for calls without a value");

  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit, like std::expected
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    COFFRE_CHECK(!std::get<Status>(v_).ok());  // an OK Status carries no value
  }

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { COFFRE_CHECK(has_value()); return std::get<0>(v_); }
  const T& value() const& { COFFRE_CHECK(has_value()); return std::get<0>(v_); }
  T&& value() && { COFFRE_CHECK(has_value()); return std::get<0>(std::move(v_)); }

  const Status& error() const& { COFFRE_CHECK(!has_value()); return std::get<1>(v_); }
  Status&& error() && { COFFRE_CHECK(!has_value()); return std::get<1>(std::move(v_)); }

  template <typename U>
  T value_or(U&& fallback) const& {
    return has_value() ? std::get<0>(v_) : static_cast<T>(std::forward<U>(fallback));
  }

  // OK when a value is held, the error otherwise.
  Status status() const { return has_value() ? Status::Ok() : std::get<1>(v_); }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace coffre

#define COFFRE_CONCAT_INNER_(a, b) a##b
#define COFFRE_CONCAT_(a, b) COFFRE_CONCAT_INNER_(a, b)

// Returns the Status from the enclosing function if `expr` (a Status) is an error.
#define COFFRE_RETURN_IF_ERROR(expr)                      \
  do {                                                    \
    ::coffre::Status coffre_status_ = (expr);             \
    if (!coffre_status_.ok()) return coffre_status_;      \
  } while (false)

// COFFRE_ASSIGN_OR_RETURN(auto dek, provider.Unwrap(wrapped));
#define COFFRE_ASSIGN_OR_RETURN(lhs, expr) \
  COFFRE_ASSIGN_OR_RETURN_IMPL_(COFFRE_CONCAT_(coffre_result_, __LINE__), lhs, expr)
#define COFFRE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.has_value()) return std::move(tmp).error(); \
  lhs = std::move(tmp).value()
