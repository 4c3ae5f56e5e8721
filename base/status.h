// Status and Result: how every fallible call in the tree reports what was wrong.
//
// Errors are values, not exceptions, so that a bad registration or a bad
// setting leaves the dispatcher's state untouched and the caller decides
// whether to print, retry or exit. Messages name the offending field and the
// bound it broke ("qlimit 0 out of range [1, 10240]").
//
// Lives in //base so that a layer that only reports errors (inpcb) does not
// link the dispatcher for it. It keeps namespace netisr, not netisr::base:
// every layer spells it netisr::Status or, inside netisr, plain Status.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace netisr {

enum class ErrorCode {
  kOk,
  kInvalidArgument,     // a value out of its documented range or malformed
  kAlreadyExists,       // duplicate registration
  kNotFound,            // unknown protocol, model or name
  kFailedPrecondition,  // call not allowed in the current state
  kResourceExhausted,   // no free slot (producers, protocols)
  kUnavailable,         // the platform cannot do it (binding, hwloc)
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const { return ok() ? "ok" : message_; }

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace netisr
