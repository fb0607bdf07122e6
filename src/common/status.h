#pragma once
// Status: the outcome of a fallible call with no value. OK carries no message; an error carries
// a code and a message written for the operator, and optionally a finer error code for APIs that
// report one (Key Vault's innererror "KeyDisabled", IoT Hub's "ModuleNotFound"): a field, never
// text to parse back out of the message. Never put secret bytes in a message.
// Value type, thread-compatible.

#include <ostream>
#include <string>
#include <string_view>
#include <utility>

namespace coffre {

enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument,    // the caller's input is malformed or out of range
  kNotFound,           // the thing does not exist (or was deleted)
  kAlreadyExists,
  kPermissionDenied,   // the identity is known but not allowed (access revoked, missing right)
  kUnauthenticated,    // the identity could not be established (bad or expired credential)
  kFailedPrecondition, // the thing exists but is in the wrong state (disabled, expired key)
  kResourceExhausted,  // a budget or quota is used up (nonce budget, secure heap, size limit)
  kUnavailable,        // a dependency cannot be reached right now; retrying may help
  kDeadlineExceeded,
  kDataLoss,           // stored or received data failed an integrity check
  kInternal,           // a broken invariant or an unexpected library failure
  kUnimplemented,
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // The finer code ("" if none); WithDetail returns a copy that carries one.
  const std::string& detail() const { return detail_; }
  Status WithDetail(std::string detail) const;

  // "NOT_FOUND: device 'x' does not exist", or "OK".
  std::string ToString() const;

  // Adds context in front of the message, keeping the codes: "reading key file: <message>".
  Status WithContext(std::string_view context) const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_ && a.detail_ == b.detail_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::string detail_;
};

std::ostream& operator<<(std::ostream& os, const Status& status);

inline Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
inline Status PermissionDenied(std::string m) { return {StatusCode::kPermissionDenied, std::move(m)}; }
inline Status Unauthenticated(std::string m) { return {StatusCode::kUnauthenticated, std::move(m)}; }
inline Status FailedPrecondition(std::string m) {
  return {StatusCode::kFailedPrecondition, std::move(m)};
}
inline Status ResourceExhausted(std::string m) {
  return {StatusCode::kResourceExhausted, std::move(m)};
}
inline Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status DeadlineExceeded(std::string m) { return {StatusCode::kDeadlineExceeded, std::move(m)}; }
inline Status DataLoss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status Unimplemented(std::string m) { return {StatusCode::kUnimplemented, std::move(m)}; }

// Status from errno after a failed system call: "open /x: Permission denied".
Status ErrnoStatus(std::string_view what, int err);

}  // namespace coffre
